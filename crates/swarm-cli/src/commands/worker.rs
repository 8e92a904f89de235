//! `swarm worker`: a scan worker of an engine whose coordinator runs
//! `swarm engine run ENGINE --dispatch redis://HOST:PORT/STREAM`. It takes
//! the stream's jobs (one consumer group for all the workers), downloads
//! each artifact from the node, scans it with the engine named by
//! `--engine` (the same names and flags as `swarm engine run` and `swarm
//! scan`) and answers. Run as many as the scanner's licence and the
//! machines allow; Ctrl-C or SIGTERM stops taking jobs and finishes the
//! ones in hand. The library side is `swarm_sdk::RedisWorker`.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use swarm_sdk::{RedisTarget, RedisWorker, WorkerReport};

/// Flags of `swarm worker`.
#[derive(Args)]
pub(crate) struct WorkerArgs {
    /// The stream the coordinator publishes to.
    #[arg(long, env = "SWARM_DISPATCH", value_name = "redis://HOST:PORT/STREAM")]
    dispatch: RedisTarget,
    /// The engine: `eicar`, `eicar-sha256`, `clamav`, `yara`, `wine`,
    /// `webhook` (a PolySwarm webhook engine: --webhook-url,
    /// --webhook-secret), a
    /// comma-separated list of those (`clamav,yara`: one engine scanning with
    /// each), or a command (shell text run with each artifact's file path
    /// appended).
    #[arg(long, env = "SWARM_ENGINE")]
    engine: String,
    #[command(flatten)]
    options: crate::engines::EngineOptions,
    /// The node artifacts are downloaded from.
    #[arg(long, env = "SWARM_NODE", default_value = swarm_sdk::DEFAULT_NODE)]
    node: String,
    /// Scans at once in this worker.
    #[arg(long, env = "SWARM_MAX_CONCURRENCY", default_value_t = 4)]
    max_concurrency: usize,
    /// Scans started per second by all the workers of the stream together
    /// (a licence's rate); no limit unless given.
    #[arg(long, env = "SWARM_MAX_SCANS_PER_SECOND", value_name = "N")]
    max_scans_per_second: Option<u32>,
    /// Seconds a job may go without news from its worker (a worker that
    /// died) before another worker takes it over.
    #[arg(
        long,
        env = "SWARM_VISIBILITY_TIMEOUT",
        default_value_t = 30.0,
        value_name = "SECONDS"
    )]
    visibility_timeout: f64,
    /// This worker's name in the consumer group (default: host, pid and a
    /// random suffix); names must differ between workers.
    #[arg(long, env = "SWARM_WORKER_NAME")]
    consumer: Option<String>,
    /// Artifacts larger than this many bytes are not downloaded (default:
    /// the community's limit).
    #[arg(long, env = "SWARM_MAX_ARTIFACT_SIZE", value_name = "BYTES")]
    max_artifact_size: Option<u64>,
    #[command(flatten)]
    observe: crate::observe::Observe,
}

/// Runs `swarm worker`.
pub(crate) async fn run(args: WorkerArgs) -> anyhow::Result<()> {
    if !(args.visibility_timeout.is_finite() && args.visibility_timeout > 0.0) {
        anyhow::bail!("--visibility-timeout must be a positive number of seconds");
    }
    let scanner = args.options.engine(&args.engine, Some(&args.node))?;
    let mut builder = RedisWorker::builder(scanner, args.dispatch)
        .node(args.node)
        .max_concurrency(args.max_concurrency)
        .visibility_timeout(Duration::from_secs_f64(args.visibility_timeout))
        .shutdown(swarm_sdk::shutdown_on_signal());
    if let Some(n) = args.max_scans_per_second {
        builder = builder.max_scans_per_second(n);
    }
    if let Some(name) = args.consumer {
        builder = builder.consumer(name);
    }
    if let Some(bytes) = args.max_artifact_size {
        builder = builder.max_artifact_size(bytes);
    }
    if let Some(addr) = args.observe.metrics_listen {
        builder = builder.metrics_listen(addr);
    }
    builder = builder.health_threshold(args.observe.threshold());
    let worker = builder.build().context("cannot start the worker")?;
    tracing::info!(engine = %args.engine, consumer = worker.consumer(), "worker starting");
    let report = worker.run().await.context("the worker stopped")?;
    print_report(&report);
    Ok(())
}

fn print_report(r: &WorkerReport) {
    println!(
        "scanned {}, failed {}, expired {}, re-claimed {}, malformed {}, unsent {}",
        r.scanned, r.failed, r.expired, r.reclaimed, r.malformed, r.unsent
    );
}
