//! The engines against their real back-ends, one binary: a private clamd,
//! yara-x rule sets, the polyswarm-engine package.

mod clamav;
#[cfg(feature = "yara")]
mod composite;
mod webhook;
#[cfg(feature = "yara")]
mod yara;
