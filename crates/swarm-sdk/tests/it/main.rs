//! The SDK against a real node, one binary: the typed client, the
//! microengine, the arbiter and the ambassador.

mod arbiter_ambassador;
mod client;
mod microengine;
mod observe;
#[cfg(feature = "redis")]
mod redis_dispatch;
