//! The engines against their real back-ends, one binary: a private clamd,
//! yara-x rule sets, a Windows scanner under Wine, the polyswarm-engine
//! package.

mod clamav;
#[cfg(feature = "yara")]
mod composite;
mod support;
mod webhook;
mod wine;
#[cfg(feature = "yara")]
mod yara;
