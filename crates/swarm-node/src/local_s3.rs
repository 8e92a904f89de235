//! A private S3-compatible server for tests and benchmarks: moto's
//! `moto_server` (PyPI's `moto[server]`, which `scripts/test` installs into
//! `target/ci-venv`), started on a free loopback port, with fresh buckets,
//! and frozen and resumed (SIGSTOP/SIGCONT) to play an object store that
//! hangs.
//!
//! Why here and not in the tests: `swarm bench artifacts` measures the
//! object store against the local directory with the same server, as
//! `swarm bench engines` starts its own clamd.
//!
//! The program is `SWARM_TEST_MOTO_SERVER`, else `ci-venv/bin/moto_server`
//! in the build directory, else `moto_server` on the `PATH`.

use std::io;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::artifacts::S3Config;

/// How long `moto_server` may take to answer its first request.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A `moto_server` process, killed when dropped.
#[derive(Debug)]
pub struct LocalS3 {
    child: Child,
    endpoint: String,
    http: reqwest::Client,
}

/// Where the `moto_server` program is.
pub fn moto_server_program() -> PathBuf {
    if let Some(path) = std::env::var_os("SWARM_TEST_MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target")));
    let venv = target.join("ci-venv/bin/moto_server");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("moto_server")
    }
}

impl LocalS3 {
    /// Starts a server on a free loopback port and waits until it answers.
    pub async fn start() -> io::Result<LocalS3> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let program = moto_server_program();
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "cannot run the S3-compatible server {} ({e}); scripts/test installs \
                         moto[server] into target/ci-venv, or set SWARM_TEST_MOTO_SERVER",
                        program.display()
                    ),
                )
            })?;
        let s3 = LocalS3 {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .map_err(io::Error::other)?,
        };
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(r) = s3.http.get(&s3.endpoint).send().await {
                if r.status().is_success() {
                    return Ok(s3);
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "moto_server did not answer on {} within {START_TIMEOUT:?}",
                        s3.endpoint
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Creates the bucket `name`.
    pub async fn create_bucket(&self, name: &str) -> io::Result<()> {
        let r = self
            .http
            .put(format!("{}/{name}", self.endpoint))
            .send()
            .await
            .map_err(io::Error::other)?;
        if !r.status().is_success() {
            return Err(io::Error::other(format!(
                "creating bucket {name}: {}",
                r.status()
            )));
        }
        Ok(())
    }

    /// The configuration of `s3://bucket/prefix` on this server (the bucket
    /// is not created), with a 5 s timeout.
    pub fn config(&self, bucket: &str, prefix: &str) -> io::Result<S3Config> {
        let mut config: S3Config = format!("s3://{bucket}/{prefix}")
            .parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        config.endpoint = Some(self.endpoint.clone());
        config.region = Some("us-east-1".into());
        config.access_key_id = Some("swarm-test".into());
        config.secret_access_key = Some("swarm-test-secret".into());
        config.timeout = Duration::from_secs(5);
        Ok(config)
    }

    /// A new, empty bucket and the configuration of `prefix` in it.
    pub async fn fresh_bucket(&self, prefix: &str) -> io::Result<S3Config> {
        let bucket = format!("swarm-{}", uuid::Uuid::new_v4().simple());
        self.create_bucket(&bucket).await?;
        self.config(&bucket, prefix)
    }

    /// Freezes the server (SIGSTOP): it accepts connections and answers
    /// nothing, like an object store that hangs.
    pub fn pause(&self) -> io::Result<()> {
        self.signal("-STOP")
    }

    /// Lets a frozen server go on (SIGCONT), with everything it stored.
    pub fn resume(&self) -> io::Result<()> {
        self.signal("-CONT")
    }

    fn signal(&self, signal: &str) -> io::Result<()> {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()?;
        if !status.success() {
            return Err(io::Error::other(format!(
                "kill {signal} moto_server: {status}"
            )));
        }
        Ok(())
    }
}

impl Drop for LocalS3 {
    fn drop(&mut self) {
        // SIGKILL ends a frozen process too.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
