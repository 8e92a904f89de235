//! The engines against their real back-ends, one binary: a private clamd,
//! yara-x rule sets.

mod clamav;
#[cfg(feature = "yara")]
mod composite;
#[cfg(feature = "yara")]
mod yara;
