//! The command engine: any program that scans a file becomes an engine.
//!
//! An engine author who already has a scanner — a script, another
//! product's command-line scanner — should not have to write Rust to try it
//! on the marketplace. [`CommandScanner`] writes each artifact to a
//! temporary file and runs the command on it:
//!
//! - **How the command runs.** Through `sh -c`, with the file's path
//!   appended as the last argument: `sh -c 'CMD "$@"' swarm-engine PATH`.
//!   CMD is shell text, so quoting, environment assignments, pipes and
//!   `&&` work as in a terminal, and the path is passed as a positional
//!   parameter — never pasted into the text — so no file name can inject
//!   shell syntax. (`sh -c` rather than splitting words ourselves: a
//!   command line that works in the author's shell then works here.)
//! - **What it answers.** If the last non-empty line on stdout that parses
//!   as a JSON object has a `verdict` (`malicious`, `benign`, `suspicious`
//!   or `unknown`), that is the answer, with its `confidence` (default 1.0)
//!   and its `metadata` (polyswarm-artifact's Verdict metadata, default
//!   empty), whose `malware_family` is normalized ([`swarm_sdk::family`]:
//!   the name given is kept as `raw_family`). Otherwise the exit status is: 1 malicious, 0 benign (each with
//!   confidence 1.0), anything else — or death by a signal — an error: no
//!   assertion.
//! - **How long it may take.** Each run has a deadline; past it the
//!   command's whole process group is killed and the scan is a
//!   [`ScanError::Timeout`].

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use swarm_sdk::{Artifact, ScanError, ScanMetadata, ScanResult, Scanner, Verdict};
use tempfile::TempPath;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::process::Command;

/// Most bytes of stdout or stderr read from the command.
const MAX_OUTPUT: u64 = 1 << 20;

/// What a command may print on stdout.
#[derive(Debug, Deserialize)]
struct Answer {
    verdict: Verdict,
    #[serde(default)]
    confidence: Option<f64>,
    #[serde(default)]
    metadata: Option<ScanMetadata>,
}

/// An engine that runs a shell command on each artifact.
#[derive(Clone, Debug)]
pub struct CommandScanner {
    command: String,
    timeout: Duration,
}

impl CommandScanner {
    /// Runs `command` (shell text) with each artifact's file path appended,
    /// for at most `timeout` each.
    pub fn new(command: impl Into<String>, timeout: Duration) -> Self {
        CommandScanner {
            command: command.into(),
            timeout,
        }
    }

    /// The command.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// Runs the command on the file at `path`.
    pub async fn scan_path(&self, path: &std::path::Path) -> Result<ScanResult, ScanError> {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("{} \"$@\"", self.command))
            .arg("swarm-engine")
            .arg(path);
        run_scanner(
            command,
            self.timeout,
            &format!("the command {:?}", self.command),
            Capture::Pipes,
        )
        .await
    }
}

/// Where a scanner process's stdout and stderr go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Capture {
    /// Pipes, read to their end: the scan is over when the process exited
    /// and every process holding its output closed it.
    Pipes,
    /// Anonymous temporary files, read once the process exited: for
    /// programs that may start long-lived helpers inheriting their output
    /// (Wine's services when its server was down), which would hold a
    /// pipe open long after the scan ended.
    Files,
}

/// Runs a scanner process and reads its answer: the last JSON line with a
/// `verdict` on stdout, else the exit status (1 malicious, 0 benign,
/// anything else an error naming `what` with the end of its stderr).
///
/// The process runs in a process group of its own; past `timeout` the
/// whole group is killed (whatever it started dies with it) and the scan
/// is a [`ScanError::Timeout`]. Shared by the command engine and the wine
/// engine (`crate::wine`), whose Windows programs are Linux processes.
pub(crate) async fn run_scanner(
    mut command: Command,
    timeout: Duration,
    what: &str,
    capture: Capture,
) -> Result<ScanResult, ScanError> {
    let program = command
        .as_std()
        .get_program()
        .to_string_lossy()
        .into_owned();
    let files = match capture {
        Capture::Pipes => None,
        Capture::Files => {
            let file = || {
                tempfile::tempfile().map_err(|e| {
                    ScanError::Other(format!("cannot create a file for {what}'s output: {e}"))
                })
            };
            Some((file()?, file()?))
        }
    };
    command.stdin(Stdio::null());
    match &files {
        None => {
            command.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        Some((out, err)) => {
            let clone = |f: &std::fs::File| {
                f.try_clone()
                    .map_err(|e| ScanError::Other(format!("cannot share an output file: {e}")))
            };
            command.stdout(clone(out)?).stderr(clone(err)?);
        }
    }
    let mut child = command
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| ScanError::Unavailable(format!("cannot run {program}: {e}")))?;
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let run = async {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let read_out = async {
            if let Some(s) = stdout.as_mut() {
                let _ = s.take(MAX_OUTPUT).read_to_end(&mut out).await;
            }
        };
        let read_err = async {
            if let Some(s) = stderr.as_mut() {
                let _ = s.take(MAX_OUTPUT).read_to_end(&mut err).await;
            }
        };
        tokio::join!(read_out, read_err);
        let status = child.wait().await;
        (status, out, err)
    };
    let (status, mut out, mut err) = match tokio::time::timeout(timeout, run).await {
        Ok(done) => done,
        Err(_) => {
            kill_group(&mut child).await;
            return Err(ScanError::Timeout(timeout));
        }
    };
    let status = status.map_err(|e| ScanError::Other(format!("cannot wait for {what}: {e}")))?;
    if let Some((out_file, err_file)) = files {
        out = read_output(out_file).await;
        err = read_output(err_file).await;
    }
    answer(status, &out, &err, what)
}

/// The first [`MAX_OUTPUT`] bytes of an output file ([`Capture::Files`]).
async fn read_output(file: std::fs::File) -> Vec<u8> {
    let mut file = tokio::fs::File::from_std(file);
    let mut bytes = Vec::new();
    if file.seek(std::io::SeekFrom::Start(0)).await.is_ok() {
        let _ = (&mut file).take(MAX_OUTPUT).read_to_end(&mut bytes).await;
    }
    bytes
}

/// The answer of a finished scanner process (see [`run_scanner`]).
fn answer(
    status: std::process::ExitStatus,
    out: &[u8],
    err: &[u8],
    what: &str,
) -> Result<ScanResult, ScanError> {
    let stdout = String::from_utf8_lossy(out);
    if let Some(answer) = stdout
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Answer>(l.trim()).ok())
        .next()
    {
        return Ok(ScanResult {
            verdict: answer.verdict,
            confidence: answer.confidence.unwrap_or(1.0),
            metadata: answer.metadata.unwrap_or_default().normalize_family(),
            bid: None,
        });
    }
    match status.code() {
        Some(0) => Ok(ScanResult::benign(1.0)),
        Some(1) => Ok(ScanResult::malicious(1.0, "")),
        _ => {
            let stderr = String::from_utf8_lossy(err);
            let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            Err(ScanError::Other(format!(
                "{what} exited with {status}: {}",
                tail.join(" | ")
            )))
        }
    }
}

/// Kills a process's whole process group (the shell and what it started).
pub(crate) async fn kill_group(child: &mut tokio::process::Child) {
    if let Some(pid) = child.id() {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .stderr(Stdio::null())
            .status()
            .await;
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
}

/// Writes an artifact's bytes to a temporary file (removed when the
/// returned path is dropped), for scanners that read files.
pub(crate) async fn write_artifact(content: bytes::Bytes) -> Result<TempPath, ScanError> {
    tokio::task::spawn_blocking(move || {
        let mut file = tempfile::Builder::new()
            .prefix("swarm-artifact-")
            .tempfile()?;
        file.write_all(&content)?;
        file.flush()?;
        Ok::<_, std::io::Error>(file.into_temp_path())
    })
    .await
    .map_err(|e| ScanError::Other(format!("writing the artifact failed: {e}")))?
    .map_err(|e| ScanError::Other(format!("cannot write the artifact to a file: {e}")))
}

impl Scanner for CommandScanner {
    async fn scan(&self, artifact: &Artifact) -> Result<ScanResult, ScanError> {
        let file = write_artifact(artifact.content.clone()).await?;
        self.scan_path(&file).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn artifact(content: &[u8]) -> Artifact {
        Artifact::file(content.to_vec())
    }

    fn scanner(cmd: &str) -> CommandScanner {
        CommandScanner::new(cmd, Duration::from_secs(10))
    }

    #[tokio::test]
    async fn exit_status_decides_without_json() {
        // grep exits 0 on a match, 1 without; inverted, a match exits 1.
        let s = scanner("! grep -q EVIL");
        let r = s.scan(&artifact(b"some EVIL bytes")).await.unwrap();
        assert_eq!(r.verdict, Verdict::Malicious);
        let r = s.scan(&artifact(b"harmless")).await.unwrap();
        assert_eq!(r.verdict, Verdict::Benign);
        // Status 2 is neither: an error, not a verdict.
        let e = scanner("echo broken >&2; exit 2")
            .scan(&artifact(b"x"))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("broken"), "{e}");
    }

    #[tokio::test]
    async fn json_line_wins_and_the_path_is_the_last_argument() {
        let s = scanner(
            r#"f() { echo "noise"; printf '{"verdict":"malicious","confidence":0.25,"metadata":{"malware_family":"%s"}}\n' "$(cat "$1")"; exit 0; }; f"#,
        );
        let r = s.scan(&artifact(b"Win32/Emotet.CD trojan")).await.unwrap();
        assert_eq!(r.verdict, Verdict::Malicious);
        assert_eq!(r.confidence, 0.25);
        // The family normalized, the command's name kept.
        assert_eq!(r.metadata.malware_family, "emotet");
        assert_eq!(r.metadata.extra["raw_family"], "Win32/Emotet.CD trojan");
        // Suspicious is passed through: no assertion.
        let r = scanner(r#"echo '{"verdict":"suspicious"}'; true"#)
            .scan(&artifact(b"x"))
            .await
            .unwrap();
        assert_eq!(r.verdict, Verdict::Suspicious);
    }

    #[tokio::test]
    async fn a_slow_command_times_out_and_is_killed() {
        let s = CommandScanner::new("sleep 30; true", Duration::from_millis(300));
        let started = std::time::Instant::now();
        let e = s.scan(&artifact(b"x")).await.unwrap_err();
        assert!(matches!(e, ScanError::Timeout(_)), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
