//! The `clamav` engine: a client of `clamd`, ClamAV's scanning daemon.
//!
//! ClamAV's detection lives in clamd; swarm talks to it over its socket
//! protocol (TCP `host:port` or a Unix socket) rather than linking libclamav
//! or running `clamdscan`, so the engine holds no signature database of its
//! own, starts instantly, and shares one loaded database with every other
//! client of the daemon.
//!
//! The protocol, as clamd speaks it (the `z` prefix means NUL-terminated
//! commands and replies):
//!
//! - `zPING\0` -> `PONG\0`: is the daemon there (used by [`Clamav::ping`] and
//!   by [`Scanner::setup`]).
//! - `zVERSION\0` -> `ClamAV 1.4.3/27000/Mon Jan  1 00:00:00 2026\0`: the
//!   product version and, when a database is loaded, its version and date.
//!   The first part becomes `scanner.vendor_version`, the second
//!   `scanner.signatures_version`.
//! - `zFILDES\0` followed by one more byte, sent in one `sendmsg` that
//!   carries a file descriptor as `SCM_RIGHTS` ancillary data (Unix
//!   sockets only) -> `fd[N]: OK\0`, `fd[N]: <Signature> FOUND\0` or
//!   `<message> ERROR\0`. clamd scans the descriptor it received in place:
//!   no bytes cross the socket and clamd writes no temporary file. The
//!   descriptor is an anonymous memory file (`memfd_create`) holding the
//!   artifact, written once; clamd sees an ordinary regular file, so its
//!   file limits (`MaxFileSize`, `MaxScanSize`) apply, not
//!   `StreamMaxLength`. Without the extra byte in the same message clamd
//!   answers `PROTOCOL ERROR: ancillary data sent without FILDES.`; over TCP
//!   no descriptor can travel and clamd would wait for one until its read
//!   timeout, so FILDES is only ever sent on a Unix socket.
//! - `zINSTREAM\0`, then the content in chunks, each prefixed by its length
//!   as a 4-byte big-endian integer, then a zero-length chunk ->
//!   `stream: OK\0`, `stream: <Signature> FOUND\0` or `<message> ERROR\0`.
//!   The content is sent [`ClamavConfig::chunk_size`] bytes at a time, never
//!   as one giant buffer. clamd refuses a stream longer than its
//!   `StreamMaxLength` with `INSTREAM size limit exceeded. ERROR` and closes
//!   the connection, possibly while the client is still writing: the client
//!   then still reads the reply, and reports [`ClamdError::SizeLimit`].
//!
//! Which transfer a scan uses ([`Transfer`]): FILDES when clamd is on a
//! Unix socket and [`ClamavConfig::fd_passing`] is on (the default), else
//! INSTREAM. A FILDES that clamd refuses (an `ERROR` or an unknown reply,
//! say a clamd built without descriptor passing or confined so that it
//! cannot read a received descriptor), or that cannot be sent, is retried
//! with INSTREAM; when INSTREAM then gives a verdict, the client stays with
//! INSTREAM until clamd next becomes unreachable (a restarted clamd may be
//! configured otherwise). Streaming costs a copy through the socket and a
//! temporary file on clamd's side per scan, which is most of what
//! separated this engine from clamd's own `MULTISCAN` rate (see
//! `docs/BENCHMARKS.md`).
//!
//! Every command opens its own connection. clamd serves each connection on
//! a thread of its own, so a pool would save only a loopback connect per
//! scan, while a fresh connection per scan means nothing to repair when
//! clamd restarts: the first scan after the restart simply connects again.
//! (A `FILDES` in a kept-open `IDSESSION` measured no faster than on a
//! fresh connection; see `docs/DECISIONS.md`.)
//! At most [`ClamavConfig::max_connections`] scans talk to clamd at once
//! (clamd's own `MaxThreads` defaults to 10), and every exchange has a
//! deadline ([`ClamavConfig::timeout`]).
//!
//! Verdicts: `FOUND` -> [`Verdict::Malicious`] with confidence 1.0 (a
//! signature is an exact match), the signature's normalized family as
//! `malware_family` (`Win.Ransomware.WannaCry-6313787-0` is `wannacry`,
//! see [`swarm_sdk::family`]) and the signature name itself as
//! `raw_family`;
//! `OK` -> [`Verdict::Benign`] with confidence [`BENIGN_CONFIDENCE`] (no
//! signature matched, which says less than a match does). An `ERROR` reply,
//! an unreachable daemon or a timeout is a [`ScanError`]: no assertion.

use std::fmt;
use std::io::{IoSlice, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rustix::fs::{memfd_create, MemfdFlags};
use rustix::net::{sendmsg, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};

use swarm_sdk::{
    Artifact, ArtifactFile, Environment, ScanError, ScanMetadata, ScanResult, Scanner, ScannerInfo,
    Verdict,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::Semaphore;

/// Confidence of a benign verdict: clamd found no signature.
pub const BENIGN_CONFIDENCE: f64 = 0.5;

/// The product name in the verdict metadata.
const PRODUCT: &str = "ClamAV";

/// Longest reply clamd sends that the client reads (a signature name or
/// an error message); anything longer is cut.
const MAX_REPLY: u64 = 64 * 1024;

/// `FILDES` and the extra byte clamd wants in the message that carries the
/// descriptor (it reads the command, then "eats" one byte for the control
/// message).
const FILDES: &[u8] = b"zFILDES\0\0";

/// The memory file is written this many bytes at a time, yielding to the
/// runtime in between, so a large artifact does not hold a worker thread.
const MEMFD_PIECE: usize = 1 << 20;

/// The memory files' name, as clamd logs it (`/memfd:swarm-artifact
/// (deleted)`).
const MEMFD_NAME: &str = "swarm-artifact";

/// Where clamd listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClamdAddress {
    /// `TCPSocket`/`TCPAddr`: a host name or IP address and a port.
    Tcp {
        /// Host name or IP address.
        host: String,
        /// Port.
        port: u16,
    },
    /// `LocalSocket`: a Unix socket's path.
    Unix(PathBuf),
}

impl fmt::Display for ClamdAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClamdAddress::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            ClamdAddress::Tcp { host, port } => write!(f, "{host}:{port}"),
            ClamdAddress::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// How to reach clamd and how hard to push it.
#[derive(Clone, Debug)]
pub struct ClamavConfig {
    /// Where clamd listens.
    pub address: ClamdAddress,
    /// Deadline of one exchange with clamd, connecting included.
    pub timeout: Duration,
    /// Most scans talking to clamd at once.
    pub max_connections: usize,
    /// Bytes per `INSTREAM` chunk.
    pub chunk_size: usize,
    /// On a Unix socket, pass clamd a memory file's descriptor (`FILDES`)
    /// instead of streaming the content (`INSTREAM`). Ignored over TCP.
    pub fd_passing: bool,
}

impl ClamavConfig {
    /// Defaults for `address`: 60 s per exchange, 4 connections, 64 KiB
    /// chunks, descriptor passing on (used only on a Unix socket).
    pub fn new(address: ClamdAddress) -> Self {
        ClamavConfig {
            address,
            timeout: Duration::from_secs(60),
            max_connections: 4,
            chunk_size: 64 * 1024,
            fd_passing: true,
        }
    }
}

/// How a scan hands the content to clamd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transfer {
    /// `FILDES`: a memory file's descriptor over the Unix socket; clamd
    /// scans it in place.
    FdPassing,
    /// `INSTREAM`: the bytes, in chunks, over the socket.
    Instream,
}

impl fmt::Display for Transfer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transfer::FdPassing => "FILDES",
            Transfer::Instream => "INSTREAM",
        })
    }
}

/// What went wrong talking to clamd.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClamdError {
    /// Connecting failed: clamd is not running or not listening there.
    #[error("cannot connect to clamd at {address}: {source}")]
    Connect {
        /// Where.
        address: ClamdAddress,
        /// Why.
        source: std::io::Error,
    },
    /// The connection broke in the middle of an exchange.
    #[error("connection to clamd lost: {0}")]
    Io(#[source] std::io::Error),
    /// clamd did not answer in time.
    #[error("clamd did not answer within {0:?}")]
    Timeout(Duration),
    /// The content is longer than clamd's `StreamMaxLength`.
    #[error("clamd refused the content: longer than its StreamMaxLength ({0})")]
    SizeLimit(String),
    /// clamd answered `... ERROR`.
    #[error("clamd reported an error: {0}")]
    Scan(String),
    /// clamd answered something this client does not understand.
    #[error("unexpected reply from clamd: {0:?}")]
    Protocol(String),
    /// Reading the content to send failed.
    #[error("cannot read the content to scan: {0}")]
    Read(#[source] std::io::Error),
    /// The content cannot be framed (a chunk longer than 4 GiB).
    #[error("chunk of {0} bytes is too long for INSTREAM")]
    ChunkTooLong(usize),
    /// `FILDES` asked of a clamd that no descriptor can reach (a TCP
    /// address): clamd would wait for one until its read timeout.
    #[error("cannot pass a descriptor to clamd at {0}: only a Unix socket carries one")]
    FdPassingUnavailable(ClamdAddress),
    /// The descriptor could not be passed: the memory file could not be
    /// made or written, or the socket refused the control message.
    #[error("cannot pass the content's descriptor to clamd: {0}")]
    FdPassing(#[source] std::io::Error),
}

impl ClamdError {
    /// A stable code for logs and scripts.
    pub fn code(&self) -> &'static str {
        match self {
            ClamdError::Connect { .. } => "clamd_connect",
            ClamdError::Io(_) => "clamd_connection_lost",
            ClamdError::Timeout(_) => "clamd_timeout",
            ClamdError::SizeLimit(_) => "clamd_size_limit",
            ClamdError::Scan(_) => "clamd_scan_error",
            ClamdError::Protocol(_) => "clamd_protocol",
            ClamdError::Read(_) => "clamd_read_content",
            ClamdError::ChunkTooLong(_) => "clamd_chunk_too_long",
            ClamdError::FdPassingUnavailable(_) => "clamd_fd_passing_unavailable",
            ClamdError::FdPassing(_) => "clamd_fd_passing",
        }
    }

    /// Whether clamd (or the socket) turned down `FILDES` itself, so that
    /// `INSTREAM` may still work: an `ERROR` or an unknown reply, or a
    /// descriptor that could not be sent. Not a dead or silent daemon,
    /// which `INSTREAM` would meet the same way.
    fn refuses_fd_passing(&self) -> bool {
        matches!(
            self,
            ClamdError::Scan(_)
                | ClamdError::Protocol(_)
                | ClamdError::FdPassing(_)
                | ClamdError::FdPassingUnavailable(_)
        )
    }
}

impl From<ClamdError> for ScanError {
    fn from(e: ClamdError) -> Self {
        match e {
            ClamdError::Timeout(d) => ScanError::Timeout(d),
            ClamdError::Connect { .. } | ClamdError::Io(_) => ScanError::Unavailable(e.to_string()),
            ClamdError::SizeLimit(_) | ClamdError::ChunkTooLong(_) | ClamdError::Read(_) => {
                ScanError::Artifact(e.to_string())
            }
            ClamdError::Scan(_)
            | ClamdError::Protocol(_)
            | ClamdError::FdPassingUnavailable(_)
            | ClamdError::FdPassing(_) => ScanError::Other(e.to_string()),
        }
    }
}

/// clamd's answer to a scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClamdReply {
    /// No signature matched.
    Clean,
    /// A signature matched; its name.
    Found(String),
}

/// clamd's `VERSION`, split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClamdVersion {
    /// e.g. `ClamAV 1.4.3`.
    pub product: String,
    /// The database's version and date, e.g. `27000/Mon Jan  1 00:00:00 2026`;
    /// `None` when clamd does not tell (only unofficial databases loaded).
    pub database: Option<String>,
}

impl ClamdVersion {
    /// Parses `ClamAV 1.4.3/27000/Mon Jan  1 00:00:00 2026`.
    pub fn parse(text: &str) -> Self {
        let text = text.trim();
        match text.split_once('/') {
            Some((product, database)) if !database.trim().is_empty() => ClamdVersion {
                product: product.trim().to_owned(),
                database: Some(database.trim().to_owned()),
            },
            Some((product, _)) => ClamdVersion {
                product: product.trim().to_owned(),
                database: None,
            },
            None => ClamdVersion {
                product: text.to_owned(),
                database: None,
            },
        }
    }
}

/// What clamd calls the scanned content in a reply: `stream` for
/// `INSTREAM`, `fd[N]` for `FILDES`; `None` if `reply` starts otherwise.
fn strip_subject(reply: &str) -> Option<&str> {
    if let Some(rest) = reply.strip_prefix("stream:") {
        return Some(rest);
    }
    let rest = reply.strip_prefix("fd[")?;
    let (number, rest) = rest.split_once("]:")?;
    number.bytes().all(|b| b.is_ascii_digit()).then_some(rest)
}

/// Parses a scan reply (without its NUL): `stream: OK`,
/// `stream: Name FOUND`, the same with `fd[N]` for `FILDES`, or
/// `message ERROR`.
pub fn parse_scan_reply(reply: &str) -> Result<ClamdReply, ClamdError> {
    let reply = reply.trim_end_matches('\0').trim();
    if let Some(message) = reply.strip_suffix(" ERROR") {
        let message = strip_subject(message).unwrap_or(message).trim();
        return Err(if message.contains("size limit exceeded") {
            ClamdError::SizeLimit(message.to_owned())
        } else {
            ClamdError::Scan(message.to_owned())
        });
    }
    let Some(body) = strip_subject(reply) else {
        return Err(ClamdError::Protocol(reply.to_owned()));
    };
    let body = body.trim();
    if body == "OK" {
        Ok(ClamdReply::Clean)
    } else if let Some(name) = body.strip_suffix(" FOUND") {
        Ok(ClamdReply::Found(name.trim().to_owned()))
    } else {
        Err(ClamdError::Protocol(reply.to_owned()))
    }
}

/// A connection to clamd over either kind of socket.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// The clamav engine: a clamd client.
#[derive(Debug)]
pub struct Clamav {
    config: ClamavConfig,
    connections: Semaphore,
    /// clamd's version, asked once and again after clamd was unreachable
    /// (a restarted clamd may run another version or database).
    version: Mutex<Option<ClamdVersion>>,
    /// Whether scans pass a descriptor: on a Unix socket with
    /// [`ClamavConfig::fd_passing`], until clamd refuses one; set again
    /// when clamd was unreachable.
    fd_passing: AtomicBool,
}

impl Clamav {
    /// A client for the clamd of `config`; connects only when used.
    pub fn new(config: ClamavConfig) -> Self {
        let permits = config.max_connections.max(1);
        let fd_passing = AtomicBool::new(Self::may_pass_fds(&config));
        Clamav {
            config,
            connections: Semaphore::new(permits),
            version: Mutex::new(None),
            fd_passing,
        }
    }

    fn may_pass_fds(config: &ClamavConfig) -> bool {
        config.fd_passing && matches!(config.address, ClamdAddress::Unix(_))
    }

    /// The configuration.
    pub fn config(&self) -> &ClamavConfig {
        &self.config
    }

    /// How the next scan hands its content to clamd.
    pub fn transfer(&self) -> Transfer {
        if self.fd_passing.load(Ordering::Relaxed) {
            Transfer::FdPassing
        } else {
            Transfer::Instream
        }
    }

    /// Runs `request` on a fresh connection, within the deadline and the
    /// connection limit.
    async fn exchange(&self, request: Request<'_>) -> Result<Answer, ClamdError> {
        // The semaphore is never closed.
        let _permit = self
            .connections
            .acquire()
            .await
            .map_err(|_| ClamdError::Protocol("connection limit closed".into()))?;
        let timeout = self.config.timeout;
        let result = tokio::time::timeout(timeout, async {
            let chunk_size = self.config.chunk_size.max(1);
            match request {
                Request::Fildes(content) => {
                    let file = memory_file(content).await.map_err(ClamdError::FdPassing)?;
                    self.fildes(file.as_fd()).await.map(Answer::Scan)
                }
                Request::File(file) => self.fildes(file).await.map(Answer::Scan),
                Request::Command(cmd) => {
                    let mut stream = self.connect().await?;
                    command(&mut *stream, cmd).await.map(Answer::Text)
                }
                Request::Bytes(content) => {
                    let mut stream = self.connect().await?;
                    let sent = send_stream(&mut *stream, content.chunks(chunk_size)).await;
                    finish_scan(&mut *stream, sent).await.map(Answer::Scan)
                }
                Request::Reader(reader) => {
                    let mut stream = self.connect().await?;
                    let sent = send_reader(&mut *stream, reader, chunk_size).await;
                    finish_scan(&mut *stream, sent).await.map(Answer::Scan)
                }
            }
        })
        .await
        .unwrap_or(Err(ClamdError::Timeout(timeout)));
        if matches!(
            result,
            Err(ClamdError::Connect { .. } | ClamdError::Io(_) | ClamdError::Timeout(_))
        ) {
            self.forget_version();
            self.fd_passing
                .store(Self::may_pass_fds(&self.config), Ordering::Relaxed);
        }
        result
    }

    /// `FILDES`: `file`'s descriptor passed on a fresh connection to the
    /// Unix socket.
    async fn fildes(&self, file: BorrowedFd<'_>) -> Result<ClamdReply, ClamdError> {
        let ClamdAddress::Unix(path) = &self.config.address else {
            return Err(ClamdError::FdPassingUnavailable(
                self.config.address.clone(),
            ));
        };
        let mut stream = UnixStream::connect(path)
            .await
            .map_err(|source| ClamdError::Connect {
                address: self.config.address.clone(),
                source,
            })?;
        send_fildes(&mut stream, file).await?;
        parse_scan_reply(&answer(&mut stream).await?)
    }

    async fn connect(&self) -> Result<Box<dyn Stream>, ClamdError> {
        let address = &self.config.address;
        let connected: std::io::Result<Box<dyn Stream>> = match address {
            ClamdAddress::Tcp { host, port } => TcpStream::connect((host.as_str(), *port))
                .await
                .and_then(|s| {
                    s.set_nodelay(true)?;
                    Ok(Box::new(s) as Box<dyn Stream>)
                }),
            ClamdAddress::Unix(path) => UnixStream::connect(path)
                .await
                .map(|s| Box::new(s) as Box<dyn Stream>),
        };
        connected.map_err(|source| ClamdError::Connect {
            address: address.clone(),
            source,
        })
    }

    fn forget_version(&self) {
        *self.version.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// `PING`: succeeds when clamd answers `PONG`.
    pub async fn ping(&self) -> Result<(), ClamdError> {
        let reply = self.text(b"zPING\0").await?;
        if reply.trim() == "PONG" {
            Ok(())
        } else {
            Err(ClamdError::Protocol(reply))
        }
    }

    /// `VERSION`, asked of clamd now.
    pub async fn version(&self) -> Result<ClamdVersion, ClamdError> {
        let reply = self.text(b"zVERSION\0").await?;
        let version = ClamdVersion::parse(&reply);
        *self.version.lock().unwrap_or_else(|e| e.into_inner()) = Some(version.clone());
        Ok(version)
    }

    /// clamd's version as last asked, or asked now.
    async fn cached_version(&self) -> Option<ClamdVersion> {
        let cached = self
            .version
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        match cached {
            Some(v) => Some(v),
            None => self.version().await.ok(),
        }
    }

    /// Scans `content` the way [`Clamav::transfer`] says: `FILDES` when
    /// it can, falling back to `INSTREAM` when clamd refuses the
    /// descriptor (and then staying with `INSTREAM`, see the module
    /// documentation).
    pub async fn scan_bytes(&self, content: &[u8]) -> Result<ClamdReply, ClamdError> {
        if self.transfer() == Transfer::Instream {
            return self.scan_bytes_with(Transfer::Instream, content).await;
        }
        let refusal = match self.scan_bytes_with(Transfer::FdPassing, content).await {
            Err(e) if e.refuses_fd_passing() => e,
            done => return done,
        };
        let streamed = self.scan_bytes_with(Transfer::Instream, content).await?;
        self.stop_passing_fds(&refusal);
        Ok(streamed)
    }

    /// After clamd refused a descriptor: `INSTREAM` from now on (until a
    /// reconnection, see the module documentation), said once.
    fn stop_passing_fds(&self, refusal: &ClamdError) {
        if self.fd_passing.swap(false, Ordering::Relaxed) {
            tracing::warn!(
                address = %self.config.address,
                code = refusal.code(),
                error = %refusal,
                "clamd refused a passed descriptor; streaming content with INSTREAM from now on"
            );
        }
    }

    /// Scans an artifact held in a memory file (`file`, whose bytes are
    /// `content`): its own descriptor with `FILDES`, nothing copied; or,
    /// when descriptors cannot be passed, as [`Clamav::scan_bytes`] does.
    pub async fn scan_artifact_file(
        &self,
        file: &ArtifactFile,
        content: &[u8],
    ) -> Result<ClamdReply, ClamdError> {
        if self.transfer() == Transfer::Instream {
            return self.scan_bytes(content).await;
        }
        match self.exchange(Request::File(file.as_fd())).await {
            Ok(Answer::Scan(reply)) => Ok(reply),
            Ok(Answer::Text(text)) => Err(ClamdError::Protocol(text)),
            Err(e) if e.refuses_fd_passing() => {
                self.stop_passing_fds(&e);
                self.scan_bytes_with(Transfer::Instream, content).await
            }
            Err(e) => Err(e),
        }
    }

    /// Scans `content` with exactly this transfer, no fallback:
    /// [`Transfer::FdPassing`] on a TCP address is
    /// [`ClamdError::FdPassingUnavailable`].
    pub async fn scan_bytes_with(
        &self,
        transfer: Transfer,
        content: &[u8],
    ) -> Result<ClamdReply, ClamdError> {
        let request = match transfer {
            Transfer::FdPassing => Request::Fildes(content),
            Transfer::Instream => Request::Bytes(content),
        };
        match self.exchange(request).await? {
            Answer::Scan(reply) => Ok(reply),
            Answer::Text(text) => Err(ClamdError::Protocol(text)),
        }
    }

    /// `FILDES` of an open file: clamd scans `file` itself through the
    /// passed descriptor, no byte copied — what `swarm scan` does with a
    /// local file. Only on a Unix socket
    /// ([`ClamdError::FdPassingUnavailable`] otherwise), with no fallback.
    pub async fn scan_file(&self, file: &std::fs::File) -> Result<ClamdReply, ClamdError> {
        if !matches!(self.config.address, ClamdAddress::Unix(_)) {
            return Err(ClamdError::FdPassingUnavailable(
                self.config.address.clone(),
            ));
        }
        match self.exchange(Request::File(file.as_fd())).await? {
            Answer::Scan(reply) => Ok(reply),
            Answer::Text(text) => Err(ClamdError::Protocol(text)),
        }
    }

    /// `INSTREAM`: scans what `reader` yields (a file, say) without holding
    /// it in memory, [`ClamavConfig::chunk_size`] bytes at a time.
    pub async fn scan_reader<R: AsyncRead + Unpin + Send>(
        &self,
        mut reader: R,
    ) -> Result<ClamdReply, ClamdError> {
        match self.exchange(Request::Reader(&mut reader)).await? {
            Answer::Scan(reply) => Ok(reply),
            Answer::Text(text) => Err(ClamdError::Protocol(text)),
        }
    }

    /// A command's text reply.
    async fn text(&self, cmd: &'static [u8]) -> Result<String, ClamdError> {
        match self.exchange(Request::Command(cmd)).await? {
            Answer::Text(text) => Ok(text),
            Answer::Scan(reply) => Err(ClamdError::Protocol(format!("{reply:?}"))),
        }
    }

    /// The verdict for a clamd reply, with this scanner's metadata.
    async fn result(&self, reply: ClamdReply) -> ScanResult {
        let version = self.cached_version().await;
        let scanner = ScannerInfo {
            version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            vendor_version: version.as_ref().map(|v| v.product.clone()),
            signatures_version: version.and_then(|v| v.database),
            environment: Some(Environment::current()),
        };
        let (verdict, confidence, family) = match reply {
            ClamdReply::Found(name) => (Verdict::Malicious, 1.0, name),
            ClamdReply::Clean => (Verdict::Benign, BENIGN_CONFIDENCE, String::new()),
        };
        let mut metadata = ScanMetadata::family(family)
            .normalize_family()
            .with_scanner(scanner);
        metadata.product = Some(PRODUCT.to_owned());
        ScanResult {
            verdict,
            confidence,
            metadata,
            bid: None,
        }
    }
}

/// One exchange with clamd.
enum Request<'a> {
    /// A command answered by one line of text.
    Command(&'static [u8]),
    /// `INSTREAM` of bytes in memory.
    Bytes(&'a [u8]),
    /// `FILDES` of bytes in memory, copied to a memory file.
    Fildes(&'a [u8]),
    /// `FILDES` of an open file, nothing copied.
    File(BorrowedFd<'a>),
    /// `INSTREAM` of what a reader yields.
    Reader(&'a mut (dyn AsyncRead + Unpin + Send)),
}

/// clamd's answer to a [`Request`].
enum Answer {
    Text(String),
    Scan(ClamdReply),
}

/// A copy of `content` in an anonymous memory file
/// (`memfd_create`), written a piece at a time.
async fn memory_file(content: &[u8]) -> std::io::Result<OwnedFd> {
    let fd = memfd_create(MEMFD_NAME, MemfdFlags::CLOEXEC)?;
    let mut file = std::fs::File::from(fd);
    let mut pieces = content.chunks(MEMFD_PIECE).peekable();
    while let Some(piece) = pieces.next() {
        file.write_all(piece)?;
        if pieces.peek().is_some() {
            tokio::task::yield_now().await;
        }
    }
    Ok(file.into())
}

/// Sends [`FILDES`] with `file`'s descriptor as `SCM_RIGHTS` in the same
/// message.
async fn send_fildes(stream: &mut UnixStream, file: BorrowedFd<'_>) -> Result<(), ClamdError> {
    let fds = [file];
    let sent = loop {
        stream.writable().await.map_err(ClamdError::Io)?;
        let attempt = stream.try_io(Interest::WRITABLE, || {
            let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
            let mut control = SendAncillaryBuffer::new(&mut space);
            if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
                return Err(std::io::Error::other("no room for the descriptor"));
            }
            sendmsg(
                &*stream,
                &[IoSlice::new(FILDES)],
                &mut control,
                SendFlags::NOSIGNAL,
            )
            .map_err(std::io::Error::from)
        });
        match attempt {
            Ok(n) => break n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) if connection_lost(&e) => return Err(ClamdError::Io(e)),
            Err(e) => return Err(ClamdError::FdPassing(e)),
        }
    };
    // The descriptor went with the first byte; the rest, if the socket
    // took only part, follows as plain bytes.
    let rest = FILDES.get(sent..).unwrap_or_default();
    stream.write_all(rest).await.map_err(ClamdError::Io)?;
    stream.flush().await.map_err(ClamdError::Io)
}

/// Whether a send failed because the peer went away.
fn connection_lost(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::BrokenPipe
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::NotConnected
    )
}

/// Sends `zINSTREAM\0`, what `reader` yields in chunks, and the end.
async fn send_reader(
    s: &mut dyn Stream,
    reader: &mut (dyn AsyncRead + Unpin + Send),
    chunk_size: usize,
) -> Result<(), SendError> {
    s.write_all(b"zINSTREAM\0").await.map_err(SendError::Io)?;
    let mut buf = vec![0u8; chunk_size];
    loop {
        let n = reader.read(&mut buf).await.map_err(SendError::Source)?;
        if n == 0 {
            break;
        }
        write_chunk(s, &buf[..n]).await.map_err(SendError::Io)?;
    }
    s.write_all(&[0; 4]).await.map_err(SendError::Io)?;
    s.flush().await.map_err(SendError::Io)
}

/// Why sending a stream stopped.
enum SendError {
    /// Writing to clamd failed.
    Io(std::io::Error),
    /// Reading the content failed.
    Source(std::io::Error),
    /// A chunk does not fit the 4-byte length.
    ChunkTooLong(usize),
}

async fn write_chunk(s: &mut dyn Stream, chunk: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(chunk.len()).map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "chunk longer than 4 GiB")
    })?;
    s.write_all(&len.to_be_bytes()).await?;
    s.write_all(chunk).await
}

/// Sends `zINSTREAM\0`, the chunks and the terminating empty chunk.
async fn send_stream<'a>(
    s: &mut dyn Stream,
    chunks: impl Iterator<Item = &'a [u8]>,
) -> Result<(), SendError> {
    s.write_all(b"zINSTREAM\0").await.map_err(SendError::Io)?;
    for chunk in chunks {
        if u32::try_from(chunk.len()).is_err() {
            return Err(SendError::ChunkTooLong(chunk.len()));
        }
        write_chunk(s, chunk).await.map_err(SendError::Io)?;
    }
    s.write_all(&[0; 4]).await.map_err(SendError::Io)?;
    s.flush().await.map_err(SendError::Io)
}

/// Reads the scan reply. When sending failed, clamd may still have said
/// why (a size limit) before closing: that reply wins over the write error.
async fn finish_scan(
    s: &mut dyn Stream,
    sent: Result<(), SendError>,
) -> Result<ClamdReply, ClamdError> {
    match sent {
        Ok(()) => parse_scan_reply(&answer(s).await?),
        Err(SendError::ChunkTooLong(n)) => Err(ClamdError::ChunkTooLong(n)),
        Err(SendError::Source(e)) => Err(ClamdError::Read(e)),
        Err(SendError::Io(write_error)) => match read_reply(s).await {
            Ok(reply) if !reply.is_empty() => parse_scan_reply(&reply),
            _ => Err(ClamdError::Io(write_error)),
        },
    }
}

/// Sends a short command and reads its reply.
async fn command(s: &mut dyn Stream, cmd: &[u8]) -> Result<String, ClamdError> {
    s.write_all(cmd).await.map_err(ClamdError::Io)?;
    s.flush().await.map_err(ClamdError::Io)?;
    answer(s).await
}

/// Reads clamd's reply; the connection closing before any reply is a lost
/// connection (clamd died or dropped the client mid-scan), not a reply.
async fn answer(s: &mut dyn Stream) -> Result<String, ClamdError> {
    let reply = read_reply(s).await.map_err(ClamdError::Io)?;
    if reply.is_empty() {
        return Err(ClamdError::Io(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "clamd closed the connection without answering",
        )));
    }
    Ok(reply)
}

/// Reads one NUL-terminated reply (or up to the end of the connection).
async fn read_reply(s: &mut dyn Stream) -> std::io::Result<String> {
    let mut reply = Vec::new();
    let mut limited = s.take(MAX_REPLY);
    let mut byte = [0u8; 256];
    loop {
        let n = limited.read(&mut byte).await?;
        if n == 0 {
            break;
        }
        if let Some(end) = byte[..n].iter().position(|b| *b == 0) {
            reply.extend_from_slice(&byte[..end]);
            break;
        }
        reply.extend_from_slice(&byte[..n]);
    }
    Ok(String::from_utf8_lossy(&reply).trim().to_owned())
}

impl Scanner for Clamav {
    /// Checks that clamd answers, and asks its version.
    async fn setup(&self) -> Result<(), ScanError> {
        self.ping().await?;
        let version = self.version().await?;
        tracing::info!(
            address = %self.config.address,
            version = %version.product,
            database = version.database.as_deref().unwrap_or("-"),
            "clamd answers"
        );
        Ok(())
    }

    async fn scan(&self, artifact: &Artifact) -> Result<ScanResult, ScanError> {
        let reply = match &artifact.file {
            Some(file) => self.scan_artifact_file(file, &artifact.content).await?,
            None => self.scan_bytes(&artifact.content).await?,
        };
        Ok(self.result(reply).await)
    }

    /// While descriptors may be passed: the artifact in a memory file, so
    /// clamd reads the downloaded bytes themselves.
    fn wants_memory_file(&self) -> bool {
        self.transfer() == Transfer::FdPassing
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn replies_parse() {
        assert_eq!(parse_scan_reply("stream: OK").unwrap(), ClamdReply::Clean);
        assert_eq!(
            parse_scan_reply("stream: Test.EICAR.NDB.UNOFFICIAL FOUND").unwrap(),
            ClamdReply::Found("Test.EICAR.NDB.UNOFFICIAL".into())
        );
        assert!(matches!(
            parse_scan_reply("INSTREAM size limit exceeded. ERROR"),
            Err(ClamdError::SizeLimit(_))
        ));
        assert!(matches!(
            parse_scan_reply("stream: Can't allocate memory ERROR"),
            Err(ClamdError::Scan(m)) if m == "Can't allocate memory"
        ));
        assert!(matches!(
            parse_scan_reply("UNKNOWN COMMAND"),
            Err(ClamdError::Protocol(_))
        ));
    }

    #[test]
    fn fildes_replies_parse_like_stream_replies() {
        assert_eq!(parse_scan_reply("fd[12]: OK").unwrap(), ClamdReply::Clean);
        assert_eq!(
            parse_scan_reply("fd[7]: Test.EICAR.NDB.UNOFFICIAL FOUND").unwrap(),
            ClamdReply::Found("Test.EICAR.NDB.UNOFFICIAL".into())
        );
        assert!(matches!(
            parse_scan_reply("fd[12]: Not a regular file ERROR"),
            Err(ClamdError::Scan(m)) if m == "Not a regular file"
        ));
        assert!(matches!(
            parse_scan_reply("FILDES: didn't receive file descriptor. ERROR"),
            Err(ClamdError::Scan(m)) if m.starts_with("FILDES")
        ));
        for odd in ["fd[x]: OK", "fd12: OK", "file: OK"] {
            assert!(
                matches!(parse_scan_reply(odd), Err(ClamdError::Protocol(_))),
                "{odd}"
            );
        }
    }

    #[test]
    fn error_codes_are_distinct() {
        let io = || std::io::Error::other("x");
        let address = ClamdAddress::Unix("/x".into());
        let errors = [
            ClamdError::Connect {
                address: address.clone(),
                source: io(),
            },
            ClamdError::Io(io()),
            ClamdError::Timeout(Duration::from_secs(1)),
            ClamdError::SizeLimit(String::new()),
            ClamdError::Scan(String::new()),
            ClamdError::Protocol(String::new()),
            ClamdError::Read(io()),
            ClamdError::ChunkTooLong(0),
            ClamdError::FdPassingUnavailable(address),
            ClamdError::FdPassing(io()),
        ];
        let codes: std::collections::BTreeSet<&str> = errors.iter().map(|e| e.code()).collect();
        assert_eq!(codes.len(), errors.len());
        assert!(codes.iter().all(|c| c.starts_with("clamd_")));
    }

    #[test]
    fn versions_split() {
        assert_eq!(
            ClamdVersion::parse("ClamAV 1.4.3/27000/Mon Jan  1 00:00:00 2026"),
            ClamdVersion {
                product: "ClamAV 1.4.3".into(),
                database: Some("27000/Mon Jan  1 00:00:00 2026".into()),
            }
        );
        assert_eq!(ClamdVersion::parse("ClamAV 1.4.3").database, None);
    }

    #[test]
    fn addresses_display() {
        let tcp = ClamdAddress::Tcp {
            host: "::1".into(),
            port: 3310,
        };
        assert_eq!(tcp.to_string(), "[::1]:3310");
        assert_eq!(
            ClamdAddress::Unix("/run/clamd.ctl".into()).to_string(),
            "unix:/run/clamd.ctl"
        );
    }

    #[tokio::test]
    async fn unreachable_clamd_is_an_error_not_a_verdict() {
        // A port nothing listens on: bind one, then free it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let clamav = Clamav::new(ClamavConfig::new(ClamdAddress::Tcp {
            host: "127.0.0.1".into(),
            port,
        }));
        assert!(matches!(
            clamav.ping().await,
            Err(ClamdError::Connect { .. })
        ));
        assert!(matches!(
            clamav.scan_bytes(b"x").await,
            Err(ClamdError::Connect { .. })
        ));
        assert!(matches!(
            clamav.setup().await,
            Err(ScanError::Unavailable(_))
        ));
    }
}
