//! A private `clamd` for tests and benchmarks: started in the foreground
//! on loopback with a signature database of its own, stopped on drop.
//!
//! Debian's ClamAV ships no signatures, and a test must not depend on
//! `freshclam` reaching the internet nor on a system clamd's
//! configuration. [`LocalClamd`] writes everything into a temporary
//! directory instead:
//!
//! - `eicar.ndb`: the EICAR body signature of SPEC §6, reported as
//!   [`EICAR_SIGNATURE`];
//! - `clam.hdb`: the md5 and size of `clam.exe` from Debian's
//!   `clamav-testfiles`, reported as [`CLAM_SIGNATURE`]. Since clamd
//!   unpacks archives, this one line also detects `clam.zip`, `clam.7z`,
//!   `clam.tar.gz` and the other wrappings of `clam.exe` there;
//! - `clamd.conf`: `Foreground yes`, a TCP socket on a free loopback port
//!   and a Unix socket in the same directory, and that database.
//!
//! clamd runs as the user starting it (the configuration has no `User`
//! line, so root stays root), loads the two signatures in well under a
//! second, and is ready once it answers `PING`. A missing `clamd` binary or
//! test file is an error, never a reason to skip.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use tokio::process::{Child, Command};

use crate::clamav::{Clamav, ClamavConfig, ClamdAddress};

/// Where Debian's `clamav-testfiles` puts its files.
pub const TESTFILES_DIR: &str = "/usr/share/clamav-testfiles";

/// The name clamd reports for the EICAR test file with this database.
pub const EICAR_SIGNATURE: &str = "Test.EICAR.NDB.UNOFFICIAL";

/// The name clamd reports for `clam.exe` (and archives holding it).
pub const CLAM_SIGNATURE: &str = "ClamAV-Test-File.UNOFFICIAL";

/// The EICAR body signature (SPEC §6).
const EICAR_NDB: &str =
    "Test.EICAR.NDB:0:*:45494341522d5354414e444152442d414e544956495255532d544553542d46494c45\n";

/// How long clamd may take to answer its first `PING`.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Why the private clamd could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalClamdError {
    /// Writing its files failed.
    #[error("cannot prepare clamd's directory: {0}")]
    Io(#[from] std::io::Error),
    /// `clam.exe` of `clamav-testfiles` is not there.
    #[error("cannot read {path} (install Debian's clamav-testfiles): {source}")]
    TestFiles {
        /// The missing file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The `clamd` binary could not be run.
    #[error("cannot run {binary} (install Debian's clamav-daemon): {source}")]
    Spawn {
        /// The binary tried.
        binary: String,
        /// Why.
        source: std::io::Error,
    },
    /// clamd exited or did not answer `PING` in time.
    #[error("clamd did not come up: {0}")]
    NotReady(String),
}

/// Settings of the private clamd.
#[derive(Clone, Debug)]
pub struct LocalClamdOptions {
    /// clamd's `StreamMaxLength`, in bytes.
    pub stream_max_length: u64,
    /// clamd's `MaxThreads`.
    pub max_threads: u32,
}

impl Default for LocalClamdOptions {
    /// 64 MiB streams, 10 threads (clamd's default).
    fn default() -> Self {
        LocalClamdOptions {
            stream_max_length: 64 << 20,
            max_threads: 10,
        }
    }
}

/// A clamd process of this process's own, with its database.
#[derive(Debug)]
pub struct LocalClamd {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

/// The `clamd` binary: `$CLAMD_BIN`, else Debian's `/usr/sbin/clamd`, else
/// `clamd` from `PATH`.
fn clamd_binary() -> String {
    if let Ok(bin) = std::env::var("CLAMD_BIN") {
        return bin;
    }
    let debian = "/usr/sbin/clamd";
    if Path::new(debian).exists() {
        debian.to_owned()
    } else {
        "clamd".to_owned()
    }
}

/// A loopback port free right now.
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl LocalClamd {
    /// Starts clamd with the default options and waits until it answers.
    pub async fn start() -> Result<Self, LocalClamdError> {
        Self::start_with(LocalClamdOptions::default()).await
    }

    /// Starts clamd with `options` and waits until it answers.
    pub async fn start_with(options: LocalClamdOptions) -> Result<Self, LocalClamdError> {
        let dir = tempfile::Builder::new().prefix("swarm-clamd-").tempdir()?;
        let db = dir.path().join("db");
        std::fs::create_dir(&db)?;
        std::fs::write(db.join("eicar.ndb"), EICAR_NDB)?;
        let clam_exe = Path::new(TESTFILES_DIR).join("clam.exe");
        let exe = std::fs::read(&clam_exe).map_err(|source| LocalClamdError::TestFiles {
            path: clam_exe.clone(),
            source,
        })?;
        let hdb = format!(
            "{}:{}:ClamAV-Test-File\n",
            hex::encode(Md5::digest(&exe)),
            exe.len()
        );
        std::fs::write(db.join("clam.hdb"), hdb)?;
        let port = free_port()?;
        let mut clamd = LocalClamd {
            dir,
            port,
            child: None,
        };
        let conf = format!(
            "Foreground yes\n\
             DatabaseDirectory {db}\n\
             TCPAddr 127.0.0.1\n\
             TCPSocket {port}\n\
             LocalSocket {socket}\n\
             LogFile {log}\n\
             LogTime yes\n\
             StreamMaxLength {max}\n\
             MaxThreads {threads}\n\
             SelfCheck 3600\n",
            db = db.display(),
            socket = clamd.socket().display(),
            log = clamd.log_file().display(),
            max = options.stream_max_length,
            threads = options.max_threads,
        );
        std::fs::write(clamd.config_file(), conf)?;
        clamd.restart().await?;
        Ok(clamd)
    }

    /// The configuration file (for `clamdscan --config-file`).
    pub fn config_file(&self) -> PathBuf {
        self.dir.path().join("clamd.conf")
    }

    /// clamd's log.
    pub fn log_file(&self) -> PathBuf {
        self.dir.path().join("clamd.log")
    }

    /// The Unix socket's path.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("clamd.sock")
    }

    /// The loopback TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The TCP address.
    pub fn tcp_address(&self) -> ClamdAddress {
        ClamdAddress::Tcp {
            host: "127.0.0.1".to_owned(),
            port: self.port,
        }
    }

    /// The Unix socket address.
    pub fn unix_address(&self) -> ClamdAddress {
        ClamdAddress::Unix(self.socket())
    }

    /// The end of clamd's log, for error messages.
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log_file()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(5)..].join(" | ")
    }

    /// Kills clamd and waits for it to exit; its sockets stop answering.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
        let _ = std::fs::remove_file(self.socket());
    }

    /// (Re)starts clamd on the same port, socket and database, and waits
    /// until it answers `PING`.
    pub async fn restart(&mut self) -> Result<(), LocalClamdError> {
        self.stop().await;
        let binary = clamd_binary();
        let child = Command::new(&binary)
            .arg("--foreground")
            .arg(format!("--config-file={}", self.config_file().display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| LocalClamdError::Spawn { binary, source })?;
        self.child = Some(child);
        let probe = Clamav::new(ClamavConfig {
            timeout: Duration::from_secs(5),
            ..ClamavConfig::new(self.tcp_address())
        });
        let started = Instant::now();
        loop {
            if probe.ping().await.is_ok() {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(LocalClamdError::NotReady(format!(
                        "it exited with {status}; log: {}",
                        self.log_tail()
                    )));
                }
            }
            if started.elapsed() > START_TIMEOUT {
                self.stop().await;
                return Err(LocalClamdError::NotReady(format!(
                    "no PONG within {START_TIMEOUT:?}; log: {}",
                    self.log_tail()
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
