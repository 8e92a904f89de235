//! `swarm`: the one binary of the swarm marketplace.
//!
//! A thin layer over the library crates: it parses flags (each with an
//! environment variable), sets up logging, and maps failures to exit codes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use swarm_protocol::Genesis;

mod bench;
mod bench_engines;
mod bench_sdk;
mod bounty;
mod dev;
mod limits;
mod new;
mod participants;
mod scan;
mod wallet;

#[derive(Parser)]
#[command(
    name = "swarm",
    version,
    about = "The swarm threat-intelligence marketplace"
)]
struct Cli {
    /// Log format.
    #[arg(long, global = true, env = "SWARM_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run a whole local marketplace: node, ambassador, arbiter, engines.
    Dev(dev::DevArgs),
    /// Run a marketplace node.
    Node(NodeArgs),
    /// Scaffold an engine (or arbiter, or ambassador) crate.
    New(new::NewArgs),
    /// Scan files with an engine, without a marketplace (one JSON line per file).
    Scan(scan::ScanArgs),
    /// Post a bounty on files, or show one.
    #[command(subcommand)]
    Bounty(bounty::BountyCommand),
    /// Keystore files and balances.
    #[command(subcommand)]
    Wallet(wallet::WalletCommand),
    /// Measure throughput.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Run an engine against a marketplace.
    #[command(subcommand)]
    Engine(participants::EngineCommand),
    /// Run an arbiter: stake, decide ground truth, vote.
    #[command(subcommand)]
    Arbiter(participants::ArbiterCommand),
    /// Run an ambassador: post bounties, report their outcomes.
    #[command(subcommand)]
    Ambassador(participants::AmbassadorCommand),
}

#[derive(Args)]
struct NodeArgs {
    /// Directory for the SQLite database and the artifacts.
    #[arg(long, env = "SWARM_DATA_DIR", default_value = ".swarm")]
    data_dir: PathBuf,
    /// Use PostgreSQL (postgres://...) instead of SQLite.
    #[arg(long, env = "SWARM_DATABASE_URL")]
    database_url: Option<String>,
    /// Address to listen on.
    #[arg(long, env = "SWARM_LISTEN", default_value = "127.0.0.1:31337")]
    listen: SocketAddr,
    /// Genesis TOML file; without it, the built-in dev genesis.
    #[arg(long, env = "SWARM_GENESIS")]
    genesis: Option<PathBuf>,
    /// Override the genesis block time, in milliseconds.
    #[arg(long, env = "SWARM_BLOCK_TIME_MS")]
    block_time_ms: Option<u64>,
    /// Store a state snapshot every this many blocks.
    #[arg(long, env = "SWARM_SNAPSHOT_EVERY", default_value_t = 1000)]
    snapshot_every: u64,
    /// URL other nodes sharing the database use to reach this one.
    #[arg(long, env = "SWARM_PUBLIC_URL")]
    public_url: Option<String>,
    #[command(flatten)]
    limits: limits::LimitArgs,
}

/// Logs to stderr at `default_level` unless `RUST_LOG` says otherwise.
fn init_logging(format: LogFormat, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn run_node(args: NodeArgs) -> anyhow::Result<()> {
    let genesis = match &args.genesis {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read genesis {}", path.display()))?;
            Genesis::from_toml(&text).with_context(|| format!("in {}", path.display()))?
        }
        None => swarm_node::dev_genesis(),
    };
    let mut config = swarm_node::NodeConfig::new(genesis);
    config.data_dir = args.data_dir;
    config.database_url = args.database_url;
    config.listen = args.listen;
    config.block_time = args.block_time_ms.map(Duration::from_millis);
    config.snapshot_every = args.snapshot_every;
    config.public_url = args.public_url;
    args.limits
        .apply(&mut config.limits, &mut config.artifact_limits);
    let node = swarm_node::start(config)
        .await
        .context("cannot start the node")?;
    println!("swarm node listening on {}", node.url());
    let token = node.shutdown_token();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: sealing the block in progress");
        token.cancel();
    });
    node.wait().await.context("node stopped with an error")
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `swarm dev` shows a progress view and a summary; its participants'
    // chatter would drown them.
    let level = if matches!(cli.command, Command::Dev(_)) {
        "warn"
    } else {
        "info"
    };
    init_logging(cli.log_format, level);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let is_scan = matches!(cli.command, Command::Scan(_));
    let result = runtime.block_on(async {
        let done = |r: anyhow::Result<()>| r.map(|()| ExitCode::SUCCESS);
        match cli.command {
            Command::Dev(args) => done(dev::run(args).await),
            Command::Node(args) => done(run_node(args).await),
            Command::Scan(args) => scan::run(args).await,
            Command::New(args) => done(new::run(args)),
            Command::Wallet(command) => done(wallet::run(command).await),
            Command::Bounty(command) => done(bounty::run(command).await),
            Command::Bench(command) => done(bench::run(command).await),
            Command::Engine(command) => done(participants::engine(command).await),
            Command::Arbiter(command) => done(participants::arbiter(command).await),
            Command::Ambassador(command) => done(participants::ambassador(command).await),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            // `swarm scan` keeps 1 for "malicious found".
            if is_scan {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
