//! What the artifact store accepts ([`ArtifactLimits`]) and the staging
//! budget: bytes that uploads in progress may hold on the node's disk.
//!
//! Why a staging budget: uploads are written to local temp files while they
//! are hashed and checked, whatever backend keeps the finished blobs, and
//! without a cap uploads that were going to be refused could fill that disk
//! first.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::error::ArtifactError;

/// Size and count limits of the artifact store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactLimits {
    /// Largest accepted artifact, in bytes (default 32 MiB).
    pub max_size: u64,
    /// Most artifacts in one bundle (default 256, the protocol maximum).
    pub max_count: usize,
    /// Most bytes all uploads in progress may hold in `tmp/` at once
    /// (default 2 GiB); an upload that would go over waits for none: it is
    /// refused with [`ArtifactError::StagingFull`].
    pub max_staged: u64,
}

impl Default for ArtifactLimits {
    fn default() -> Self {
        Self {
            max_size: 32 * 1024 * 1024,
            max_count: 256,
            max_staged: 2 * 1024 * 1024 * 1024,
        }
    }
}

/// Bytes held in `tmp/` by uploads in progress, under a cap.
#[derive(Debug)]
pub(super) struct Staging {
    max: u64,
    current: AtomicU64,
    peak: AtomicU64,
}

impl Staging {
    /// An empty budget of `max` bytes.
    pub(super) fn new(max: u64) -> Arc<Self> {
        Arc::new(Staging {
            max,
            current: 0.into(),
            peak: 0.into(),
        })
    }

    /// Bytes reserved now, and the most reserved at once so far.
    pub(super) fn bytes(&self) -> (u64, u64) {
        (
            self.current.load(Ordering::Acquire),
            self.peak.load(Ordering::Acquire),
        )
    }

    /// An empty reservation, to grow as an upload's chunks arrive.
    pub(super) fn reserve(self: &Arc<Self>) -> Reservation {
        Reservation {
            staging: Arc::clone(self),
            bytes: 0,
        }
    }
}

/// Bytes reserved in [`Staging`]; released when dropped.
#[derive(Debug)]
pub(super) struct Reservation {
    staging: Arc<Staging>,
    bytes: u64,
}

impl Reservation {
    /// Reserves `n` more bytes, unless that would go over the cap.
    pub(super) fn grow(&mut self, n: u64) -> Result<(), ArtifactError> {
        let staging = &self.staging;
        staging
            .current
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |current| {
                current.checked_add(n).filter(|total| *total <= staging.max)
            })
            .map_err(|_| ArtifactError::StagingFull { max: staging.max })?;
        self.bytes += n;
        let now = staging.current.load(Ordering::Acquire);
        staging.peak.fetch_max(now, Ordering::AcqRel);
        Ok(())
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.staging.current.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_stay_under_the_cap_and_are_given_back() {
        let staging = Staging::new(10);
        let mut a = staging.reserve();
        a.grow(6).unwrap();
        let mut b = staging.reserve();
        assert!(matches!(
            b.grow(5),
            Err(ArtifactError::StagingFull { max: 10 })
        ));
        b.grow(4).unwrap();
        assert_eq!(staging.bytes(), (10, 10));
        drop(a);
        assert_eq!(staging.bytes(), (4, 10));
        drop(b);
        assert_eq!(staging.bytes(), (0, 10));
    }
}
