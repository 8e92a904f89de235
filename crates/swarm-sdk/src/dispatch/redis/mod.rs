//! Scan jobs over Redis Streams (feature `redis`): one microengine (the
//! coordinator, [`RedisDispatch`]) and any number of worker processes
//! ([`RedisWorker`]), on any machines that reach the same Redis and node.
//!
//! Why Redis Streams: operators who outgrow one machine run Redis already,
//! and a stream with a consumer group is a work queue with the two things
//! scanning needs and a list lacks — a job taken by a worker that dies is
//! still pending and can be re-claimed (XAUTOCLAIM), and every worker sees
//! each job once. PolySwarm's own engines ran their producer and workers
//! over Redis the same way.
//!
//! * `target.rs`: the `redis://HOST[:PORT][/DB]/STREAM` address
//!   ([`RedisTarget`]) and the keys derived from it.
//! * `wire.rs`: a job and an answer as stream entries.
//! * `state.rs`: the decisions — which answer is delivered, whether a job
//!   is still worth scanning, re-claims, backoff, the rate limit — in pure
//!   code.
//! * `coordinator.rs`: [`RedisDispatch`], the [`ScanDispatch`] that
//!   publishes and waits.
//! * `worker.rs`: [`RedisWorker`], which consumes, scans and answers.
//! * `error.rs`: [`RedisDispatchError`], with stable codes.
//!
//! [`ScanDispatch`]: crate::ScanDispatch

mod coordinator;
mod error;
mod state;
mod target;
mod wire;
mod worker;

pub use coordinator::{DispatchStats, RedisDispatch};
pub use error::RedisDispatchError;
pub use target::RedisTarget;
pub use worker::{RedisWorker, RedisWorkerBuilder, WorkerReport};
