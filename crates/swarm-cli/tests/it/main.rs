//! The `swarm` binary and cross-crate scenarios, one test binary: each
//! module runs the binary or the libraries together against real nodes and
//! real back-ends.
//!
//! `swarm new`'s tests, which build generated crates with cargo, are a
//! binary of their own (`tests/new`): they would take the machine from the
//! timing-sensitive tests here.

mod bench_node;
mod bench_sha;
mod bounty;
mod clamav_dev;
mod clamav_engine;
#[cfg(feature = "yara")]
mod composite_engine;
mod dev;
mod durability;
mod engine_reconnect;
mod engine_restart;
mod explorer_browser;
mod hardening;
mod marketplace;
mod metrics;
mod object_store;
mod operator;
mod readme;
mod redis_workers;
mod scan;
mod support;
mod wallet;
mod webhook_engine;
mod wine_engine;
