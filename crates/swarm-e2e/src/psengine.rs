//! A PolySwarm webhook engine written with the real `polyswarm-engine`
//! package from PyPI, run as PolySwarm runs one: the package's web service
//! (its Flask app behind its `ValidateSenderMiddleware`, the `devserver`
//! command) and a Celery worker, on a private `redis-server` as broker.
//!
//! The engine is [`ENGINE_PY`]: EICAR malicious with the largest allowed
//! bid, anything else benign with the smallest — so a test can tell from
//! the stakes on the chain that the engine's own bids went through.
//!
//! Python is `SWARM_TEST_PSENGINE_PYTHON`, else `psengine-venv/bin/python`
//! in the build directory, where scripts/test installs the pinned package.
//! Panics when it cannot start: a skipped test proves nothing.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use crate::RedisServer;

/// The engine, written against the package's documented API
/// (`EngineManager`, `register_analyzer`, `get_artifact_bytes`, `bid_max`).
pub const ENGINE_PY: &str = r#"# An EICAR engine written with polyswarm-engine.
import polyswarm_engine as pe

engine = pe.EngineManager("swarm-test-eicar", vendor="swarm tests")

EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


@engine.register_analyzer
def analyze(bounty):
    data = pe.get_artifact_bytes(bounty)
    if EICAR in data:
        return {
            "verdict": pe.MALICIOUS,
            "bid": pe.bid_max(bounty),
            "confidence": 1.0,
            "metadata": {"malware_family": "EICAR-Test-File"},
        }
    return {"verdict": pe.BENIGN, "bid": pe.bid_min(bounty), "confidence": 0.8}


if __name__ == "__main__":
    engine.cli()
"#;

/// The Celery queue, and so the URL path, of the engine.
pub const QUEUE: &str = "eicar";

/// The Python with polyswarm-engine installed.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("SWARM_TEST_PSENGINE_PYTHON") {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target")));
    target.join("psengine-venv/bin/python")
}

/// The running engine: broker, web service and worker; stopped on drop.
pub struct PsEngine {
    /// The webhook URL: `http://127.0.0.1:PORT/eicar`.
    pub url: String,
    /// The shared secret the web service checks.
    pub secret: String,
    dir: tempfile::TempDir,
    web: tokio::process::Child,
    worker: tokio::process::Child,
    _broker: RedisServer,
}

impl PsEngine {
    /// Starts the engine with `PSENGINE_WEBHOOK_SECRET=secret`; returns
    /// once the web service answers and the worker is ready.
    pub async fn start(secret: &str) -> PsEngine {
        let python = python();
        assert!(
            python.exists(),
            "{} is missing: scripts/test installs polyswarm-engine into target/psengine-venv \
             (or set SWARM_TEST_PSENGINE_PYTHON)",
            python.display()
        );
        let broker = RedisServer::start().await;
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("engine.py");
        std::fs::write(&script, ENGINE_PY).unwrap();
        let spawn = |args: &[&str], log: &str| {
            let out = std::fs::File::create(dir.path().join(log)).unwrap();
            let err = out.try_clone().unwrap();
            tokio::process::Command::new(&python)
                .arg(&script)
                .args(args)
                .current_dir(dir.path())
                .env(
                    "PSENGINE_BROKER_URL",
                    format!("redis://127.0.0.1:{}", broker.port),
                )
                .env("PSENGINE_BROKER_VHOST", "0")
                .env("PSENGINE_WEBHOOK_SECRET", secret)
                .env("PSENGINE_WORKER_CONCURRENCY", "4")
                .env("LOG_LEVEL", "INFO")
                .env("PYTHONUNBUFFERED", "1")
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .kill_on_drop(true)
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()))
        };
        // A free port can be taken by another test between finding it and
        // the web service binding it: then start it again on another.
        let mut attempts = 0;
        let (web, port) = loop {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut web = spawn(&["devserver", "--port", &port.to_string()], "web.log");
            let started = tokio::time::Instant::now();
            let taken = loop {
                if let Ok(Some(_)) = web.try_wait() {
                    let log =
                        std::fs::read_to_string(dir.path().join("web.log")).unwrap_or_default();
                    break log.contains("Address already in use");
                }
                if log_says_serving(&dir, port) || started.elapsed() > Duration::from_secs(60) {
                    break false;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            attempts += 1;
            if !taken || attempts == 5 {
                break (web, port);
            }
        };
        let worker = spawn(&["worker", "-Q", QUEUE], "worker.log");
        let mut engine = PsEngine {
            url: format!("http://127.0.0.1:{port}/{QUEUE}"),
            secret: secret.to_owned(),
            dir,
            web,
            worker,
            _broker: broker,
        };
        engine.wait_ready(port).await;
        engine
    }

    async fn wait_ready(&mut self, port: u16) {
        // (The web service is known to be listening, or to have exited.)
        let started = tokio::time::Instant::now();
        let mut web_up = false;
        loop {
            if !web_up {
                web_up = tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok();
            }
            let worker_log = self.log("worker.log");
            if web_up && worker_log.contains(" ready.") {
                return;
            }
            let exited = matches!(self.web.try_wait(), Ok(Some(_)))
                || matches!(self.worker.try_wait(), Ok(Some(_)));
            assert!(
                !exited && started.elapsed() < Duration::from_secs(60),
                "the polyswarm-engine engine exited or did not start within 60 s\n\
                 web log:\n{}\nworker log:\n{worker_log}",
                self.log("web.log")
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The text of one of its logs (`web.log`, `worker.log`).
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }
}

impl Drop for PsEngine {
    fn drop(&mut self) {
        // Each runs in its own process group: the worker's pool children too.
        for child in [&self.web, &self.worker] {
            if let Some(pid) = child.id() {
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", "--", &format!("-{pid}")])
                    .status();
            }
        }
    }
}

/// Whether the web service's log says it bound `port`: polyswarm-engine's
/// dev server prints "Serving NAME on port PORT" once it has, and nothing
/// before (a port answering could be another process's).
fn log_says_serving(dir: &tempfile::TempDir, port: u16) -> bool {
    std::fs::read_to_string(dir.path().join("web.log"))
        .unwrap_or_default()
        .contains(&format!("on port {port}"))
}
