//! `swarm bench workers`: how an engine's scan rate grows with `swarm
//! worker` processes over Redis, against the same engine in process.
//!
//! A fresh node runs in this process (SQLite in a temporary directory) and
//! serves one uploaded bundle of small artifacts; a private `redis-server`
//! runs on a free loopback port (never a shared one). Two command engines
//! stand for the two kinds of scanner an operator spreads out:
//!
//! * **I/O-bound**: `sleep 0.05` per file, the shape of a remote AV service
//!   or a sandbox that answers in 50 ms and costs this machine nothing;
//! * **CPU-bound**: a shell busy loop of about as long, which needs a core
//!   for its whole run.
//!
//! For each engine and each N of `--workers` (1, 2, 4, 8), N `swarm worker`
//! processes (this binary, `--max-concurrency 1` each) serve a fresh stream;
//! a [`RedisDispatch`] publishes `--jobs-per-worker` × N jobs at once and
//! waits for every answer. After a warm-up round (every worker connected
//! and its consumer in the group), each of `--runs` rounds is timed from
//! the first publish to the last answer; the rate is jobs per second, the
//! median of the rounds reported. The in-process engine
//! ([`LocalDispatch`], concurrency N) does the same jobs in the same run.
//! Scaling efficiency is rate(N) ÷ (N × rate(1)).

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use swarm_engines::CommandScanner;
use swarm_node::{dev_key, NodeConfig};
use swarm_protocol::{ArtifactMetadata, Guid};
use swarm_sdk::{
    ArtifactKind, LocalDispatch, NodeClient, RedisDispatch, RedisTarget, ScanDispatch, ScanJob,
};
use tokio::process::{Child, Command};

use super::funded_genesis;
use super::stats::median;

/// Flags of `swarm bench workers`.
#[derive(Args, Debug)]
pub(crate) struct WorkersBenchArgs {
    /// Worker counts to measure (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8")]
    workers: Vec<usize>,
    /// Timed rounds per measure; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Jobs per round for each worker (a round has N times as many).
    #[arg(long, default_value_t = 40)]
    jobs_per_worker: usize,
    /// The I/O-bound engine's wait per file, in milliseconds.
    #[arg(long, default_value_t = 50)]
    io_ms: u64,
    /// Iterations of the CPU-bound engine's shell loop per file.
    #[arg(long, default_value_t = 40_000)]
    cpu_loops: u64,
    /// The redis-server binary to start.
    #[arg(long, default_value = "redis-server")]
    redis_server: String,
    /// One JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

/// One line of the result.
#[derive(Debug, serde::Serialize)]
struct Measure {
    engine: &'static str,
    workers: usize,
    /// Jobs per second through Redis workers (median of the runs).
    workers_rate: f64,
    /// rate(N) ÷ (N × rate(1)) for the workers.
    workers_efficiency: f64,
    /// Jobs per second in process at concurrency N.
    in_process_rate: f64,
    in_process_efficiency: f64,
}

/// Runs `swarm bench workers`.
pub(crate) async fn run(args: WorkersBenchArgs) -> anyhow::Result<()> {
    if args.workers.is_empty() || args.workers.contains(&0) || args.runs == 0 {
        bail!("--workers needs counts of at least 1, --runs at least 1");
    }
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let uploader = dev_key(2);
    let mut config = NodeConfig::new(funded_genesis([&uploader]));
    config.data_dir = dir.path().join("node");
    config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    config.limits = swarm_node::Limits::unlimited();
    let node = swarm_node::start(config)
        .await
        .context("cannot start the bench node")?;
    let mut redis = start_redis(&args.redis_server, dir.path()).await?;
    let result = measure_all(&args, &node.url(), &uploader, &redis.1, dir.path()).await;
    let _ = redis.0.kill().await;
    let stopped = node.shutdown().await;
    let measures = result?;
    stopped.context("the bench node failed while stopping")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&measures)?);
    } else {
        println!(
            "{:<10} {:>7} {:>14} {:>10} {:>16} {:>10}",
            "engine", "workers", "redis jobs/s", "eff.", "in-process jobs/s", "eff."
        );
        for m in &measures {
            println!(
                "{:<10} {:>7} {:>14.1} {:>10.2} {:>16.1} {:>10.2}",
                m.engine,
                m.workers,
                m.workers_rate,
                m.workers_efficiency,
                m.in_process_rate,
                m.in_process_efficiency
            );
        }
        println!(
            "({} timed rounds each, medians; {} jobs per worker per round; {} CPUs)",
            args.runs,
            args.jobs_per_worker,
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
    }
    Ok(())
}

/// A private redis-server on a free loopback port, and its port.
async fn start_redis(binary: &str, dir: &Path) -> anyhow::Result<(Child, u16)> {
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut child = Command::new(binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot run {binary}"))?;
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok((child, port));
            }
            if child.try_wait()?.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = child.kill().await;
    }
    bail!("{binary} did not start")
}

async fn measure_all(
    args: &WorkersBenchArgs,
    url: &str,
    uploader: &swarm_protocol::PrivateKey,
    port: &u16,
    dir: &Path,
) -> anyhow::Result<Vec<Measure>> {
    let client = NodeClient::new(url);
    let community = client.parameters().await?.community;
    let files: Vec<(String, bytes::Bytes)> = (0..64)
        .map(|i| (format!("f{i}.bin"), format!("bench artifact {i}\n").into()))
        .collect();
    let uploaded = client
        .upload(uploader, &community, &files)
        .await
        .context("cannot upload the bench bundle")?;
    let engines: [(&'static str, String); 2] = [
        (
            "io-bound",
            format!("sleep {}; true", args.io_ms as f64 / 1000.0),
        ),
        (
            "cpu-bound",
            format!(
                "i=0; while [ $i -lt {} ]; do i=$((i+1)); done; true",
                args.cpu_loops
            ),
        ),
    ];
    let mut measures = Vec::new();
    for (engine, command) in &engines {
        let mut base = (0.0, 0.0);
        for &n in &args.workers {
            let stream = format!("bench-{engine}-{n}-{:08x}", rand::random::<u32>());
            let target: RedisTarget = format!("redis://127.0.0.1:{port}/{stream}").parse()?;
            let jobs = args.jobs_per_worker * n;
            let mut children = Vec::new();
            for i in 0..n {
                children.push(spawn_worker(&target, command, url, dir, i)?);
            }
            let remote = RedisDispatch::new(target, uploader.address(), *engine)?;
            let result = rate(&remote, &uploaded.uri, n, jobs, args.runs).await;
            for mut c in children {
                let _ = c.kill().await;
            }
            let workers_rate = result?;
            let local = LocalDispatch::new(
                Arc::new(CommandScanner::new(command, Duration::from_secs(60))),
                NodeClient::new(url),
                n,
                1 << 20,
            );
            let in_process_rate = rate(&local, &uploaded.uri, n, jobs, args.runs).await?;
            if measures.iter().all(|m: &Measure| m.engine != *engine) {
                base = (workers_rate, in_process_rate);
            }
            let eff = |rate: f64, one: f64| rate / (n as f64 * one);
            tracing::info!(engine, n, workers_rate, in_process_rate, "measured");
            measures.push(Measure {
                engine,
                workers: n,
                workers_rate,
                workers_efficiency: eff(workers_rate, base.0),
                in_process_rate,
                in_process_efficiency: eff(in_process_rate, base.1),
            });
        }
    }
    Ok(measures)
}

fn spawn_worker(
    target: &RedisTarget,
    command: &str,
    url: &str,
    dir: &Path,
    i: usize,
) -> anyhow::Result<Child> {
    let log = std::fs::File::create(dir.join(format!("worker-{i}.log")))?;
    Command::new(std::env::current_exe().context("cannot find this binary")?)
        .arg("worker")
        .arg("--dispatch")
        .arg(target.to_string())
        .args(["--engine", command, "--node", url])
        .args(["--max-concurrency", "1", "--max-artifact-size", "1048576"])
        .args(["--consumer", &format!("bench-{i}")])
        .env("RUST_LOG", "warn")
        .env_remove("SWARM_DISPATCH")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .context("cannot start a worker")
}

/// Jobs per second through `dispatch`: a warm-up round of `n` jobs, then
/// the median of `runs` rounds of `jobs`.
async fn rate<D: ScanDispatch>(
    dispatch: &D,
    uri: &str,
    n: usize,
    jobs: usize,
    runs: usize,
) -> anyhow::Result<f64> {
    round(dispatch, uri, n * 2).await?;
    let mut rates = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        round(dispatch, uri, jobs).await?;
        rates.push(jobs as f64 / started.elapsed().as_secs_f64());
    }
    Ok(median(&mut rates))
}

/// `jobs` jobs at once; all must be answered with a verdict.
async fn round<D: ScanDispatch>(dispatch: &D, uri: &str, jobs: usize) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let outcomes = futures_util::future::join_all((0..jobs).map(|i| {
        dispatch.scan(ScanJob {
            bounty_guid: Guid::from_u128(i as u128 + 1),
            uri: uri.to_owned(),
            index: i % 64,
            kind: ArtifactKind::File,
            metadata: ArtifactMetadata::default(),
            deadline,
        })
    }))
    .await;
    for outcome in outcomes {
        if let Err((failure, detail)) = outcome.result {
            bail!("a bench job failed: {}: {detail}", failure.code());
        }
    }
    Ok(())
}
