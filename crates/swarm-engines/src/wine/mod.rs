//! The `wine` engine: a Windows command-line scanner run under Wine, as
//! PolySwarm's own webhook engines run theirs (SPEC §8).
//!
//! Many vendors ship their scanner for Windows only. Wine runs a Windows
//! console program as a Linux process, so such a scanner becomes an engine
//! the way any command does (`crate::command`): the artifact is written to
//! a temporary file, the program runs on it, and its answer is read exactly
//! as a command engine's — the last JSON line with a `verdict` on stdout,
//! else exit status 1 malicious, 0 benign, anything else an error. What
//! Wine adds is in [`prefix`]: a managed WINEPREFIX, initialised once under
//! a lock, with a persistent wineserver so that a scan does not pay Wine's
//! start-up, and the file's name on Wine's `Z:` drive.
//!
//! - **How it runs.** `sh -c 'exec wine "$1" ARGS "$2"' swarm-wine EXE
//!   Z:\PATH`: ARGS (`--wine-args`) is shell text, as a command engine's
//!   command is, and the scanner and the file are positional parameters,
//!   never pasted into it. `exec` makes the shell the Wine loader, which
//!   becomes the Windows process: one Linux process group holds the scan.
//! - **Timeouts.** Past the deadline that process group is killed — the
//!   Windows process and anything it started — and the scan is a
//!   [`ScanError::Timeout`]. The wineserver and the other scans of the
//!   prefix are untouched (never `wineserver -k`), so the next scan works.
//! - **Setup** ([`Wine::prepare`]) runs once per engine, in `setup` or else
//!   before the first scan; its failures are [`WineError`]s, each with a
//!   stable code.

mod error;
pub mod prefix;

use std::path::{Path, PathBuf};
use std::time::Duration;

use swarm_sdk::{Artifact, ScanError, ScanResult, Scanner};
use tokio::sync::OnceCell;

pub use error::WineError;
pub use prefix::windows_path;

use crate::command::{run_scanner, write_artifact, Capture};

/// What the wine engine runs, and where.
#[derive(Clone, Debug)]
pub struct WineConfig {
    /// The Windows scanner (`--wine-exe`), a Linux path to a `.exe`.
    pub exe: PathBuf,
    /// Arguments before the file's path (`--wine-args`), shell text.
    pub args: String,
    /// The WINEPREFIX (`--wine-prefix`).
    pub prefix: PathBuf,
    /// Deadline of one scan.
    pub timeout: Duration,
}

impl WineConfig {
    /// Runs `exe` with no arguments in `prefix`, 60 s per scan.
    pub fn new(exe: impl Into<PathBuf>, prefix: impl Into<PathBuf>) -> Self {
        WineConfig {
            exe: exe.into(),
            args: String::new(),
            prefix: prefix.into(),
            timeout: Duration::from_secs(60),
        }
    }

    /// The prefix used when none is given: `swarm/wine-prefix` under
    /// `$XDG_DATA_HOME`, else under `~/.local/share`, else under the
    /// temporary directory.
    pub fn default_prefix() -> PathBuf {
        let data = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| {
                std::env::var_os("HOME")
                    .map(PathBuf::from)
                    .filter(|p| p.is_absolute())
                    .map(|home| home.join(".local").join("share"))
            })
            .unwrap_or_else(std::env::temp_dir);
        data.join("swarm").join("wine-prefix")
    }
}

/// The wine engine.
#[derive(Debug)]
pub struct Wine {
    config: WineConfig,
    /// The scanner's absolute path, once the prefix is ready.
    ready: OnceCell<PathBuf>,
}

impl Wine {
    /// The engine; nothing runs until [`Wine::prepare`] (or the first scan).
    pub fn new(config: WineConfig) -> Self {
        Wine {
            config,
            ready: OnceCell::new(),
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &WineConfig {
        &self.config
    }

    /// Checks the scanner, then makes the prefix ready (see [`prefix`]):
    /// once per engine; later calls return at once.
    pub async fn prepare(&self) -> Result<(), WineError> {
        self.exe().await.map(|_| ())
    }

    /// The scanner's absolute path, preparing the prefix the first time.
    async fn exe(&self) -> Result<&Path, WineError> {
        let exe = self
            .ready
            .get_or_try_init(|| async {
                let exe = tokio::fs::canonicalize(&self.config.exe)
                    .await
                    .map_err(|source| WineError::ExeMissing {
                        path: self.config.exe.clone(),
                        source,
                    })?;
                let meta =
                    tokio::fs::metadata(&exe)
                        .await
                        .map_err(|source| WineError::ExeMissing {
                            path: exe.clone(),
                            source,
                        })?;
                if !meta.is_file() {
                    return Err(WineError::ExeMissing {
                        path: exe,
                        source: std::io::Error::other("not a file"),
                    });
                }
                let started = std::time::Instant::now();
                let initialised = prefix::prepare(&self.config.prefix).await?;
                tracing::info!(
                    prefix = %self.config.prefix.display(),
                    exe = %exe.display(),
                    initialised,
                    secs = started.elapsed().as_secs_f64(),
                    "Wine prefix ready"
                );
                Ok(exe)
            })
            .await?;
        Ok(exe.as_path())
    }

    /// Runs the scanner on the Linux file at `path`.
    pub async fn scan_path(&self, path: &Path) -> Result<ScanResult, ScanError> {
        let exe = self.exe().await.map_err(unavailable)?;
        let file = windows_path(path).map_err(|e| ScanError::Artifact(e.to_string()))?;
        let mut command = prefix::wine_command("sh", &self.config.prefix);
        command
            .arg("-c")
            .arg(format!("exec wine \"$1\" {} \"$2\"", self.config.args))
            .arg("swarm-wine")
            .arg(exe)
            .arg(file);
        run_scanner(
            command,
            self.config.timeout,
            &format!("the Windows scanner {} under Wine", exe.display()),
            Capture::Files,
        )
        .await
    }
}

/// A setup failure as a scan error, with its code.
fn unavailable(e: WineError) -> ScanError {
    ScanError::Unavailable(format!("{e} ({})", e.code()))
}

impl Scanner for Wine {
    async fn setup(&self) -> Result<(), ScanError> {
        self.prepare().await.map_err(unavailable)
    }

    async fn scan(&self, artifact: &Artifact) -> Result<ScanResult, ScanError> {
        // Ready before the file is written: a first scan may wait for wineboot.
        self.exe().await.map_err(unavailable)?;
        let file = write_artifact(artifact.content.clone()).await?;
        // Through symlinks (a temporary directory may be one), as winepath
        // was checked on.
        let path = tokio::fs::canonicalize(&file)
            .await
            .map_err(|e| ScanError::Other(format!("cannot resolve the artifact's file: {e}")))?;
        self.scan_path(&path).await
    }
}
