//! swarm-engines: ready-made engines.
//!
//! - [`eicar`]: the tutorial's "Hello World" engine, which detects the EICAR
//!   test file by exact comparison ([`EicarExact`]) or by sha256
//!   ([`EicarSha256`]).
//! - [`clamav`]: ClamAV, as a client of a running `clamd` ([`Clamav`]).
//! - `yara` (feature `yara`): YARA rules from a directory, run with yara-x
//!   (`Yara`).
//! - [`command`]: any command that scans a file ([`CommandScanner`]).
//! - [`webhook`]: a PolySwarm webhook engine (a `polyswarm-engine` web
//!   service) reached over HTTP ([`Webhook`]).
//! - [`wine`]: a Windows command-line scanner run under Wine ([`Wine`]).
//! - [`composite`]: several of these as one engine, scanning concurrently
//!   and combining their verdicts ([`Composite`]).
//! - [`local_clamd`]: a private `clamd` with a test signature database, for
//!   tests and benchmarks; [`test_scanner`]: a tiny scanner in C built for
//!   Windows (MinGW-w64) and Linux, for the wine engine's tests and bench.
//!
//! [`Engine`] holds any of them, for callers that choose at run time (the
//! `swarm` command's `--engine`): the [`Scanner`] trait is generic, so the
//! choice is an enum rather than a trait object.

pub mod clamav;
pub mod command;
pub mod composite;
pub mod eicar;
pub mod local_clamd;
pub mod test_scanner;
pub mod webhook;
pub mod wine;
#[cfg(feature = "yara")]
pub mod yara;

pub use clamav::{
    Clamav, ClamavConfig, ClamdAddress, ClamdError, ClamdReply, ClamdVersion, Transfer,
};
pub use command::CommandScanner;
pub use composite::{combine, Composite, CompositeError};
pub use eicar::{
    url_names_eicar, Eicar, EicarExact, EicarSha256, EicarVariant, UnknownVariant, EICAR,
    EICAR_FAMILY, EICAR_SHA256,
};
pub use local_clamd::{LocalClamd, LocalClamdError, LocalClamdOptions};
pub use webhook::{Webhook, WebhookConfig, WebhookError};
pub use wine::{Wine, WineConfig, WineError};
#[cfg(feature = "yara")]
pub use yara::{Yara, YaraError, YaraMatch, YaraRules};

use swarm_sdk::{Artifact, ScanError, ScanResult, Scanner};

/// One of the engines of this crate, chosen at run time.
#[derive(Debug)]
pub enum Engine {
    /// [`Eicar`].
    Eicar(Eicar),
    /// [`Clamav`].
    Clamav(Clamav),
    /// `Yara` (feature `yara`).
    #[cfg(feature = "yara")]
    Yara(Yara),
    /// [`CommandScanner`].
    Command(CommandScanner),
    /// [`Wine`]: a Windows scanner under Wine.
    Wine(Wine),
    /// [`Composite`]: several engines as one.
    Composite(Composite),
    /// [`Webhook`]: a PolySwarm webhook engine.
    Webhook(Webhook),
}

impl Engine {
    /// The engine's name: `eicar`, `clamav`, `yara`, `command`, `wine`,
    /// `composite` or `webhook`.
    pub fn name(&self) -> &'static str {
        match self {
            Engine::Eicar(_) => "eicar",
            Engine::Clamav(_) => "clamav",
            #[cfg(feature = "yara")]
            Engine::Yara(_) => "yara",
            Engine::Command(_) => "command",
            Engine::Wine(_) => "wine",
            Engine::Composite(_) => "composite",
            Engine::Webhook(_) => "webhook",
        }
    }
}

impl Scanner for Engine {
    async fn setup(&self) -> Result<(), ScanError> {
        match self {
            Engine::Eicar(e) => e.setup().await,
            Engine::Clamav(e) => e.setup().await,
            #[cfg(feature = "yara")]
            Engine::Yara(e) => e.setup().await,
            Engine::Command(e) => e.setup().await,
            Engine::Wine(e) => e.setup().await,
            Engine::Composite(e) => e.boxed_setup().await,
            Engine::Webhook(e) => e.setup().await,
        }
    }

    async fn scan(&self, artifact: &Artifact) -> Result<ScanResult, ScanError> {
        match self {
            Engine::Eicar(e) => e.scan(artifact).await,
            Engine::Clamav(e) => e.scan(artifact).await,
            #[cfg(feature = "yara")]
            Engine::Yara(e) => e.scan(artifact).await,
            Engine::Command(e) => e.scan(artifact).await,
            Engine::Wine(e) => e.scan(artifact).await,
            Engine::Composite(e) => e.boxed_scan(artifact).await,
            Engine::Webhook(e) => e.scan(artifact).await,
        }
    }

    fn wants_memory_file(&self) -> bool {
        match self {
            Engine::Eicar(e) => e.wants_memory_file(),
            Engine::Clamav(e) => e.wants_memory_file(),
            #[cfg(feature = "yara")]
            Engine::Yara(e) => e.wants_memory_file(),
            Engine::Command(e) => e.wants_memory_file(),
            Engine::Wine(e) => e.wants_memory_file(),
            Engine::Composite(e) => e.wants_memory_file(),
            Engine::Webhook(e) => e.wants_memory_file(),
        }
    }

    async fn teardown(&self) -> Result<(), ScanError> {
        match self {
            Engine::Eicar(e) => e.teardown().await,
            Engine::Clamav(e) => e.teardown().await,
            #[cfg(feature = "yara")]
            Engine::Yara(e) => e.teardown().await,
            Engine::Command(e) => e.teardown().await,
            Engine::Wine(e) => e.teardown().await,
            Engine::Composite(e) => e.boxed_teardown().await,
            Engine::Webhook(e) => e.teardown().await,
        }
    }
}
