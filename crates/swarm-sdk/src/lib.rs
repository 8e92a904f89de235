//! swarm-sdk: everything a marketplace participant needs.
mod ambassador;
mod arbiter;
mod bid;
mod client;
mod dispatch;
mod env;
mod events;
pub mod family;
mod filter;
mod journal;
mod memory_file;
mod microengine;
mod observe;
mod runtime;
mod scanner;

pub use ambassador::{check_url, url_metadata, BadUrl, UrlListError, UrlSource, MAX_URL_LEN};
pub use ambassador::{
    Ambassador, AmbassadorBuilder, AmbassadorError, AmbassadorReport, BountyOutcome, BountyRequest,
    BountySource, DirectorySource, EicarSource, LowBalance, EICAR,
};
pub use arbiter::{
    Arbiter, ArbiterBuilder, ArbiterError, ArbiterReport, GroundTruth, ScannerTruth, Sha256Table,
    TableError,
};
pub use bid::{BidBounds, BidStrategy, Multiplier};
pub use client::{
    ArtifactInfo, BatchItem, BlockInfo, ClientError, CommunityParameters, NodeClient, Receipt,
    Refusal, RetryPolicy, StakeDepositView, StakingParameters, Status, Submitted, TxStatus,
    Uploaded,
};
#[cfg(feature = "redis")]
pub use dispatch::redis::{
    DispatchStats, RedisDispatch, RedisDispatchError, RedisTarget, RedisWorker, RedisWorkerBuilder,
    WorkerReport,
};
pub use dispatch::{LocalDispatch, ScanDispatch, ScanFailure, ScanJob, ScanOutcome};
pub use env::{shutdown_on_signal, Connection, ConnectionError, DEFAULT_NODE};
pub use events::{EventStream, NodeEvent};
pub use filter::{Comparison, Filter, FilterError, Filters};
pub use journal::{
    CommittedAssertion, Journal, JournalEntry, JournalError, Record, DEFAULT_COMPACT_AFTER,
};
pub use memory_file::ArtifactFile;
pub use microengine::{EngineError, EngineReport, Microengine, MicroengineBuilder};
pub use observe::ObserveError;
pub use scanner::{
    Artifact, ArtifactKind, Environment, ScanError, ScanMetadata, ScanResult, Scanner, ScannerInfo,
    Stix, Verdict, FAMILY_CATEGORY, FAMILY_PLATFORM, RAW_FAMILY,
};

/// The protocol crate, for keys, addresses and amounts, so that a
/// participant crate needs only this one dependency.
pub use swarm_protocol;
/// The cancellation token the runtimes' `shutdown` takes.
pub use tokio_util::sync::CancellationToken;
