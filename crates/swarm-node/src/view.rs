//! The committed state as readers see it, kept in two copies so that a
//! read never waits for a block to be applied.
//!
//! Every read of the API (`/status`, an open bounty, a balance) looks at
//! the registry as of the last committed block, and every committed block
//! has to be applied to it. Under load a block holds thousands of
//! transactions, and applying them under one lock made every read that
//! came meanwhile wait — milliseconds, or a scheduler slice more when the
//! applying thread was preempted on a busy machine — which is where the
//! read latency's tail came from. So the view holds two registries (the
//! left-right scheme): a block is applied to the copy nobody reads, the
//! readers are switched over to it, and then it is applied to the other
//! copy as well. Applying is cheap next to verifying (about 2% of a
//! transaction's cost), so doing it twice costs little; the price is a
//! second copy of the live state (open bounties, balances, stakes — not
//! history, which lives in the store).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock, TryLockError};

use swarm_protocol::{Registry, VerifiedTx};

use crate::chain::{BlockHeader, CommittedBlock};
use crate::sequencer::apply_block;
use crate::store::StoreError;

/// The committed state, as readers see it.
#[derive(Debug)]
pub struct ChainView {
    /// Two registries at the same block, except while one is being
    /// advanced.
    copies: [RwLock<Registry>; 2],
    /// Which of `copies` readers use.
    current: AtomicUsize,
    tip: RwLock<Option<BlockHeader>>,
    /// Advances one block at a time.
    writer: Mutex<()>,
}

impl ChainView {
    /// A view of `registry` at `tip`.
    pub fn new(registry: Registry, tip: Option<BlockHeader>) -> Self {
        ChainView {
            copies: [RwLock::new(registry.clone()), RwLock::new(registry)],
            current: AtomicUsize::new(0),
            tip: RwLock::new(tip),
            writer: Mutex::new(()),
        }
    }

    /// Reads the committed registry.
    pub fn read<T>(&self, f: impl FnOnce(&Registry) -> T) -> T {
        // A poisoned lock means a panic while applying a committed block, which
        // the registry never does; reading the data as it is stays correct.
        let mut i = self.current.load(Ordering::Acquire);
        loop {
            match self.copies[i].try_read() {
                Ok(guard) => return f(&guard),
                Err(TryLockError::Poisoned(e)) => return f(&e.into_inner()),
                Err(TryLockError::WouldBlock) => {
                    // Switched away from while this read began: the writer is
                    // catching this copy up, and the other one is current.
                    let now = self.current.load(Ordering::Acquire);
                    if now != i {
                        i = now;
                        continue;
                    }
                    let guard = self.copies[i].read().unwrap_or_else(|e| e.into_inner());
                    return f(&guard);
                }
            }
        }
    }

    /// The last committed block.
    pub fn tip(&self) -> Option<BlockHeader> {
        self.tip.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Applies a committed block (whose transactions are already verified).
    pub(crate) fn advance(
        &self,
        block: &CommittedBlock,
        verified: &[VerifiedTx],
    ) -> Result<(), StoreError> {
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let read = self.current.load(Ordering::Acquire);
        let spare = 1 - read;
        self.apply(spare, block, verified)?;
        self.current.store(spare, Ordering::Release);
        *self.tip.write().unwrap_or_else(|e| e.into_inner()) = Some(block.header.clone());
        self.apply(read, block, verified)
    }

    /// Applies `block` to copy `i`.
    fn apply(
        &self,
        i: usize,
        block: &CommittedBlock,
        verified: &[VerifiedTx],
    ) -> Result<(), StoreError> {
        let mut registry = self.copies[i].write().unwrap_or_else(|e| e.into_inner());
        apply_block(&mut registry, &block.header, verified)?;
        // The sequencer's commit stored what this block settled before the
        // view advances: readers that miss a bounty here find it there.
        drop(registry.take_settled());
        Ok(())
    }
}
