//! Why the wine engine could not get ready: each refusal of setup a
//! variant with a stable code, its message naming what to fix.

use std::path::PathBuf;
use std::time::Duration;

/// Why the wine engine's setup failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WineError {
    /// A Wine program could not be started.
    #[error("cannot run {program} (install Debian's wine and wine64): {source}")]
    WineMissing {
        /// `wine`, `wineserver`, `wineboot` or `winepath`.
        program: &'static str,
        /// Why it did not start.
        source: std::io::Error,
    },
    /// The Windows scanner is not a file.
    #[error("the Windows scanner {path} cannot be used: {source}")]
    ExeMissing {
        /// `--wine-exe`.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The prefix directory or its lock file could not be made or used.
    #[error("cannot use the Wine prefix {path}: {source}")]
    Prefix {
        /// What could not be made or locked.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `wineboot --init` failed.
    #[error("wineboot --init of {prefix} failed ({status}): {output}")]
    Init {
        /// The prefix.
        prefix: PathBuf,
        /// How wineboot ended.
        status: String,
        /// The end of what it printed.
        output: String,
    },
    /// A Wine program ran past its deadline (and was killed).
    #[error("{program} did not finish within {timeout:?} (prefix {prefix})")]
    Timeout {
        /// The program.
        program: &'static str,
        /// The prefix.
        prefix: PathBuf,
        /// Its deadline.
        timeout: Duration,
    },
    /// `wineserver -p` failed.
    #[error("cannot start a persistent wineserver for {prefix} ({status}): {output}")]
    Server {
        /// The prefix.
        prefix: PathBuf,
        /// How it ended.
        status: String,
        /// What it printed.
        output: String,
    },
    /// The prefix has no `Z:` drive mapping `/`, so a Linux path has no
    /// Windows name.
    #[error(
        "the Wine prefix {prefix} has no Z: drive on / ({found}); restore the \
         symlink dosdevices/z: -> / (winecfg, Drives) or use another --wine-prefix"
    )]
    NoZDrive {
        /// The prefix.
        prefix: PathBuf,
        /// What `dosdevices/z:` is.
        found: String,
    },
    /// `winepath -w` names a Linux path otherwise than the engine does.
    #[error("winepath -w {unix} says {winepath:?}, the engine would pass {ours:?}")]
    PathMismatch {
        /// The Linux path.
        unix: PathBuf,
        /// What `winepath -w` printed.
        winepath: String,
        /// The engine's translation.
        ours: String,
    },
    /// A path cannot be given to a Windows program: not absolute, not
    /// UTF-8, or it holds a backslash.
    #[error("{0} has no Windows name on the Z: drive (a path must be absolute UTF-8 without backslashes)")]
    Untranslatable(PathBuf),
}

impl WineError {
    /// A stable code for logs and scripts.
    pub fn code(&self) -> &'static str {
        match self {
            WineError::WineMissing { .. } => "wine_missing",
            WineError::ExeMissing { .. } => "wine_exe_missing",
            WineError::Prefix { .. } => "wine_prefix",
            WineError::Init { .. } => "wine_init_failed",
            WineError::Timeout { .. } => "wine_timeout",
            WineError::Server { .. } => "wine_server",
            WineError::NoZDrive { .. } => "wine_no_z_drive",
            WineError::PathMismatch { .. } => "wine_path_mismatch",
            WineError::Untranslatable(_) => "wine_untranslatable_path",
        }
    }
}
