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
//!   empty). Otherwise the exit status is: 1 malicious, 0 benign (each with
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
use tokio::io::AsyncReadExt;
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
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("{} \"$@\"", self.command))
            .arg("swarm-engine")
            .arg(path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| ScanError::Unavailable(format!("cannot run sh: {e}")))?;
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
        let (status, out, err) = match tokio::time::timeout(self.timeout, run).await {
            Ok(done) => done,
            Err(_) => {
                kill_group(&mut child).await;
                return Err(ScanError::Timeout(self.timeout));
            }
        };
        let status =
            status.map_err(|e| ScanError::Other(format!("cannot wait for the command: {e}")))?;
        let stdout = String::from_utf8_lossy(&out);
        if let Some(answer) = stdout
            .lines()
            .rev()
            .filter_map(|l| serde_json::from_str::<Answer>(l.trim()).ok())
            .next()
        {
            return Ok(ScanResult {
                verdict: answer.verdict,
                confidence: answer.confidence.unwrap_or(1.0),
                metadata: answer.metadata.unwrap_or_default(),
                bid: None,
            });
        }
        match status.code() {
            Some(0) => Ok(ScanResult::benign(1.0)),
            Some(1) => Ok(ScanResult::malicious(1.0, "")),
            _ => {
                let stderr = String::from_utf8_lossy(&err);
                let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                Err(ScanError::Other(format!(
                    "the command {:?} exited with {status}: {}",
                    self.command,
                    tail.join(" | ")
                )))
            }
        }
    }
}

/// Kills the command's whole process group (the shell and what it started).
async fn kill_group(child: &mut tokio::process::Child) {
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

impl Scanner for CommandScanner {
    async fn scan(&self, artifact: &Artifact) -> Result<ScanResult, ScanError> {
        let content = artifact.content.clone();
        let file = tokio::task::spawn_blocking(move || {
            let mut file = tempfile::Builder::new()
                .prefix("swarm-artifact-")
                .tempfile()?;
            file.write_all(&content)?;
            file.flush()?;
            Ok::<_, std::io::Error>(file.into_temp_path())
        })
        .await
        .map_err(|e| ScanError::Other(format!("writing the artifact failed: {e}")))?
        .map_err(|e| ScanError::Other(format!("cannot write the artifact to a file: {e}")))?;
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
        let r = s.scan(&artifact(b"Family.X")).await.unwrap();
        assert_eq!(r.verdict, Verdict::Malicious);
        assert_eq!(r.confidence, 0.25);
        assert_eq!(r.metadata.malware_family, "Family.X");
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
