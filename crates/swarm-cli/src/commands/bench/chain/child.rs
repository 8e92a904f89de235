//! A `swarm node` child process on the bench's chain: its memory is the
//! node's alone, and a SIGTERM stops it as an operator would.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::process::{Child, Command};

use super::READY_TIMEOUT;

/// A running `swarm node`.
pub(super) struct ChildNode {
    child: Child,
    /// Its base URL.
    pub(super) url: String,
    /// From spawning it to its first `GET /status` answered OK.
    pub(super) ready_after: Duration,
}

impl ChildNode {
    /// Starts `swarm node` (this very binary) on `data_dir` or
    /// `database_url` with the genesis at `genesis`, and waits until
    /// `GET /status` answers OK.
    pub(super) async fn start(
        genesis: &Path,
        data_dir: &Path,
        database_url: Option<&str>,
    ) -> anyhow::Result<ChildNode> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("cannot find a free port")?
            .port();
        let exe = std::env::current_exe().context("cannot find the swarm binary")?;
        let mut command = Command::new(exe);
        command
            .arg("node")
            .arg("--genesis")
            .arg(genesis)
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .env_remove("SWARM_DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        if let Some(url) = database_url {
            command.arg("--database-url").arg(url);
        }
        let started = Instant::now();
        let mut child = command.spawn().context("cannot start `swarm node`")?;
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        loop {
            if let Ok(r) = http.get(format!("{url}/status")).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            if let Some(status) = child.try_wait().context("waiting for `swarm node`")? {
                bail!("`swarm node` exited with {status} before it answered");
            }
            if started.elapsed() > READY_TIMEOUT {
                bail!("`swarm node` did not answer within {READY_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(ChildNode {
            ready_after: started.elapsed(),
            child,
            url,
        })
    }

    /// A field of `/proc/PID/status`, in bytes.
    fn status_kb(&self, field: &str) -> Option<u64> {
        let pid = self.child.id()?;
        let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .map(|kb| kb * 1024)
    }

    /// Resident memory now (VmRSS).
    pub(super) fn rss_bytes(&self) -> Option<u64> {
        self.status_kb("VmRSS:")
    }

    /// The most resident memory so far (VmHWM).
    pub(super) fn peak_rss_bytes(&self) -> Option<u64> {
        self.status_kb("VmHWM:")
    }

    /// SIGTERM, then waits for a clean exit (the node commits its block).
    pub(super) async fn stop(mut self) -> anyhow::Result<()> {
        let Some(pid) = self.child.id() else {
            bail!("`swarm node` already exited");
        };
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .await
            .context("cannot run kill")?;
        if !status.success() {
            bail!("kill -TERM {pid} failed");
        }
        let exited = tokio::time::timeout(READY_TIMEOUT, self.child.wait())
            .await
            .context("`swarm node` did not stop after SIGTERM")?
            .context("waiting for `swarm node`")?;
        if !exited.success() {
            bail!("`swarm node` exited with {exited} after SIGTERM");
        }
        Ok(())
    }
}
