//! `swarm node`: run a marketplace node (SPEC §4) until Ctrl-C or SIGTERM,
//! which seal and commit the block in progress first.

mod limits;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use swarm_protocol::Genesis;

/// Flags of `swarm node`.
#[derive(Args)]
pub(crate) struct NodeArgs {
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
    /// Keep artifact bytes in an S3-compatible object store,
    /// `s3://BUCKET[/PREFIX]`, instead of DATA_DIR/artifacts; nodes sharing a
    /// database and a bucket serve the same artifacts. Credentials come from
    /// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or the other AWS sources).
    #[arg(long, env = "SWARM_ARTIFACTS", value_name = "s3://BUCKET[/PREFIX]")]
    artifacts: Option<swarm_node::S3Config>,
    /// The object store's URL, for an S3-compatible server (MinIO, Ceph, ...);
    /// AWS's own when unset.
    #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    s3_endpoint: Option<String>,
    /// The object store's region (default us-east-1).
    #[arg(long, env = "AWS_REGION")]
    s3_region: Option<String>,
    /// Longest an object-store operation may take, retries included, in
    /// milliseconds; past it the API answers 503 with Retry-After.
    #[arg(long, env = "SWARM_ARTIFACTS_TIMEOUT_MS", default_value_t = 30_000)]
    artifacts_timeout_ms: u64,
    #[command(flatten)]
    limits: limits::LimitArgs,
}

/// Runs a node until it is stopped.
pub(crate) async fn run(args: NodeArgs) -> anyhow::Result<()> {
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
    if let Some(mut s3) = args.artifacts {
        s3.endpoint = args.s3_endpoint;
        s3.region = args.s3_region;
        s3.timeout = Duration::from_millis(args.artifacts_timeout_ms.max(1));
        config.artifacts = swarm_node::ArtifactBackend::S3(s3);
    }
    args.limits
        .apply(&mut config.limits, &mut config.artifact_limits);
    // Caught from before the node answers: a SIGTERM right after its
    // first answer stops it cleanly once it has started.
    let signal = swarm_sdk::shutdown_on_signal();
    let node = swarm_node::start(config)
        .await
        .context("cannot start the node")?;
    println!("swarm node listening on {}", node.url());
    let token = node.shutdown_token();
    tokio::spawn(async move {
        signal.cancelled().await;
        tracing::info!("sealing the block in progress");
        token.cancel();
    });
    node.wait().await.context("node stopped with an error")
}
