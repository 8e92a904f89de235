//! The swarm marketplace node: the daemon every participant talks to.
//!
//! A node orders signed transactions into blocks ([`sequencer`]), commits
//! each block atomically to a [`Store`] (SQLite by default, PostgreSQL for
//! several nodes sharing one database), keeps artifacts content-addressed
//! ([`ArtifactStore`], its bytes on disk or another [`BlobStore`]), and
//! serves the HTTP and WebSocket API of SPEC §4 ([`api::app`]) with the
//! marketplace explorer, web pages at `/`. The
//! rules themselves live in `swarm-protocol`; the node adds ordering,
//! durability and transport.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use swarm_node::{start, NodeConfig};
//! use swarm_protocol::{Genesis, PrivateKey};
//!
//! let owner = PrivateKey::random();
//! let node = start(NodeConfig::new(Genesis::new("dev", owner.address()))).await?;
//! println!("serving on {}", node.url());
//! node.shutdown().await?;
//! # Ok(())
//! # }
//! ```

pub mod api;
pub mod artifacts;
mod bounties;
mod chain;
mod dev;
mod explorer;
mod follower;
mod limits;
pub mod local_s3;
mod metrics;
mod node;
pub mod sequencer;
mod serve;
pub mod store;
mod view;

#[cfg(any(test, feature = "test-utils"))]
pub mod test_utils;

pub use artifacts::{
    ArtifactEntry, ArtifactError, ArtifactLimits, ArtifactStore, BlobError, BlobStore, GcStats,
    LocalBlobs, Manifest, MemoryBlobs, S3Blobs, S3Config, StagedArtifact,
};
pub use chain::{BlockHeader, CommittedBlock, EventRecord, TxRecord};
pub use dev::{dev_genesis, dev_key};
pub use limits::{AdmissionLimits, Limits, Rate, FD_RESERVE};
pub use metrics::Metrics;
pub use node::{
    load_state, open_store, start, ArtifactBackend, NodeBuilder, NodeConfig, NodeError, RunningNode,
};
pub use store::{BlockBucket, SqlStore, Store, StoreError};
