//! A private S3-compatible server for tests: moto's `moto_server` (PyPI's
//! `moto[server]`, which `scripts/test` installs into `target/ci-venv`),
//! started on a free loopback port, with fresh buckets, and stopped and
//! resumed (SIGSTOP/SIGCONT) to play an object store that hangs.
//!
//! Found as `SWARM_TEST_MOTO_SERVER`, else `target/ci-venv/bin/moto_server`
//! of the build directory, else `moto_server` on the `PATH`; a test that
//! needs it fails without it.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::artifacts::S3Config;

/// A `moto_server` process, killed when dropped.
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
    pub async fn start() -> LocalS3 {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let program = moto_server_program();
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "this test needs an S3-compatible server: cannot run {} ({e}); \
                     scripts/test installs moto[server] into target/ci-venv",
                    program.display()
                )
            });
        let s3 = LocalS3 {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap(),
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = s3.http.get(&s3.endpoint).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "moto_server did not answer on {} within 60 s",
                s3.endpoint
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        s3
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Creates the bucket `name`.
    pub async fn create_bucket(&self, name: &str) {
        let r = self
            .http
            .put(format!("{}/{name}", self.endpoint))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "creating bucket {name}: {}", r.status());
    }

    /// The configuration of `s3://bucket/prefix` on this server (the bucket
    /// is not created).
    pub fn config(&self, bucket: &str, prefix: &str) -> S3Config {
        let mut config: S3Config = format!("s3://{bucket}/{prefix}").parse().unwrap();
        config.endpoint = Some(self.endpoint.clone());
        config.region = Some("us-east-1".into());
        config.access_key_id = Some("swarm-test".into());
        config.secret_access_key = Some("swarm-test-secret".into());
        config.timeout = Duration::from_secs(5);
        config
    }

    /// A new, empty bucket and the configuration of `prefix` in it.
    pub async fn fresh_bucket(&self, prefix: &str) -> S3Config {
        let bucket = format!("swarm-{}", uuid::Uuid::new_v4().simple());
        self.create_bucket(&bucket).await;
        self.config(&bucket, prefix)
    }

    /// Freezes the server (SIGSTOP): it accepts connections and answers
    /// nothing, like an object store that hangs.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused server go on (SIGCONT), with everything it stored.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal} moto_server");
    }
}

impl Drop for LocalS3 {
    fn drop(&mut self) {
        // A stopped process must be resumed to die of SIGTERM; SIGKILL
        // needs no such care.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
