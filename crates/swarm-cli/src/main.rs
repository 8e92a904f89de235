//! `swarm`: the one binary of the swarm marketplace.
//!
//! A thin layer over the library crates: it parses flags (each with an
//! environment variable), sets up logging, and maps failures to exit codes.
//! Each command is a module of [`commands`]; [`connection`] and [`engines`]
//! hold the flags several commands share (a participant's node and key, the
//! engines run by name), and [`signing`] what every command that signs a
//! transaction does (show it, confirm, explain refusals).

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

mod commands;
mod connection;
mod engines;
mod observe;
mod signing;

use commands::{
    ambassador, arbiter, bench, bounty, community, dev, engine, new, node, scan, stake, wallet,
    worker,
};

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
    Node(Box<node::NodeArgs>),
    /// Scaffold an engine (or arbiter, or ambassador) crate.
    New(new::NewArgs),
    /// Scan files with an engine, without a marketplace (one JSON line per file).
    Scan(scan::ScanArgs),
    /// Post a bounty on files, or show one.
    #[command(subcommand)]
    Bounty(bounty::BountyCommand),
    /// Keystore files, balances, transfers, keeping an account topped up.
    #[command(subcommand)]
    Wallet(wallet::WalletCommand),
    /// The community: show its rules; as its owner, change them and mint.
    #[command(subcommand)]
    Community(community::CommunityCommand),
    /// An arbiter's stake: deposit, withdraw, show.
    #[command(subcommand)]
    Stake(stake::StakeCommand),
    /// Measure throughput.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Run an engine against a marketplace.
    #[command(subcommand)]
    Engine(engine::EngineCommand),
    /// Run a scan worker of an engine whose scans go through Redis.
    Worker(worker::WorkerArgs),
    /// Run an arbiter: stake, decide ground truth, vote.
    #[command(subcommand)]
    Arbiter(arbiter::ArbiterCommand),
    /// Run an ambassador: post bounties, report their outcomes.
    #[command(subcommand)]
    Ambassador(ambassador::AmbassadorCommand),
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
            Command::Node(args) => done(node::run(*args).await),
            Command::Scan(args) => scan::run(args).await,
            Command::New(args) => done(new::run(args)),
            Command::Wallet(command) => done(wallet::run(command).await),
            Command::Community(command) => done(community::run(command).await),
            Command::Stake(command) => done(stake::run(command).await),
            Command::Bounty(command) => done(bounty::run(command).await),
            Command::Bench(command) => done(bench::run(command).await),
            Command::Engine(command) => done(engine::run(command).await),
            Command::Worker(args) => done(worker::run(args).await),
            Command::Arbiter(command) => done(arbiter::run(command).await),
            Command::Ambassador(command) => done(ambassador::run(command).await),
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
