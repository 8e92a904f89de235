//! swarm-sdk: everything a marketplace participant needs.
mod bid;
mod client;
mod events;
mod scanner;

pub use bid::{BidBounds, BidStrategy, Multiplier};
pub use client::{
    ArtifactInfo, ClientError, CommunityParameters, NodeClient, Receipt, RetryPolicy, Status,
    Submitted, Uploaded,
};
pub use events::{EventStream, NodeEvent};
pub use scanner::{
    Artifact, ArtifactKind, Environment, ScanError, ScanMetadata, ScanResult, Scanner, ScannerInfo,
    Stix, Verdict,
};
