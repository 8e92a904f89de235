//! `swarm bench artifacts`: what keeping artifacts in an object store costs
//! against the local directory, in upload and download throughput.
//!
//! Four sides, each run on the same sizes in the same process, one after
//! the other, `--runs` times (the report gives medians):
//!
//! - **node, local directory**: a node in this process (limits off) on its
//!   data directory; objects uploaded with `POST /artifacts` (one bundle per
//!   object, `--concurrency` requests at once) and read back with
//!   `GET /artifacts/{uri}/0`, over loopback HTTP — hashing, staging,
//!   the manifest and the response all included;
//! - **node, object store**: the same against a node whose artifacts are in
//!   a bucket of a private S3-compatible server (`moto_server`, as in the
//!   tests, or any store given by `--s3` and the AWS variables);
//! - **directory / object store alone**: the same objects put and read
//!   straight through the node's backends ([`LocalBlobs`], [`S3Blobs`])
//!   with no HTTP, no hashing and no manifest: the limit each node side is
//!   judged by.
//!
//! Objects are random (every run new bytes, so deduplication never saves a
//! write): `--small-count` of 1 KiB (objects/s matters) and `--large-count`
//! of 32 MiB (MB/s matters, 10^6 bytes). Downloads are checked against the
//! sha256 of what was uploaded.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::Args;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use swarm_node::artifacts::{BlobKey, StagedFile};
use swarm_node::local_s3::LocalS3;
use swarm_node::{ArtifactBackend, BlobStore, LocalBlobs, S3Blobs, S3Config};
use swarm_protocol::PrivateKey;
use swarm_sdk::NodeClient;

use super::stats::median;

/// Flags of `swarm bench artifacts`.
#[derive(Args)]
pub(crate) struct ArtifactsBenchArgs {
    /// Timed runs of every side; the report gives medians.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// 1 KiB objects per run.
    #[arg(long, default_value_t = 256)]
    small_count: usize,
    /// 32 MiB objects per run.
    #[arg(long, default_value_t = 4)]
    large_count: usize,
    /// Requests (or backend operations) at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Measure this bucket (with AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...)
    /// instead of starting a private moto_server.
    #[arg(long, value_name = "s3://BUCKET[/PREFIX]")]
    s3: Option<S3Config>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

const SMALL: usize = 1 << 10;
const LARGE: usize = 32 << 20;

/// One side's medians.
#[derive(Debug, Serialize)]
struct Side {
    name: &'static str,
    small_upload_per_s: f64,
    small_download_per_s: f64,
    large_upload_mb_s: f64,
    large_download_mb_s: f64,
}

/// One run's rates of one side: (1 KiB up/s, 1 KiB down/s, 32 MiB up MB/s,
/// 32 MiB down MB/s).
type Rates = [f64; 4];

/// Where a side puts and gets objects.
enum Target {
    Node(NodeClient, PrivateKey),
    Backend(Arc<dyn BlobStore>, tempfile::TempDir),
}

impl Target {
    /// Stores `object`; what to read it back by.
    async fn put(&self, object: Bytes) -> anyhow::Result<String> {
        match self {
            Target::Node(client, key) => {
                let files = [("object.bin".to_owned(), object)];
                let uploaded = client.upload(key, "dev", &files).await?;
                Ok(uploaded.uri)
            }
            Target::Backend(blobs, staging) => {
                let sha256 = hex::encode(Sha256::digest(&object));
                let key = BlobKey::blob(&sha256).context("a sha256 is a key")?;
                let dir = staging.path().to_owned();
                let size = object.len() as u64;
                let staged = tokio::task::spawn_blocking(move || {
                    use std::io::Write as _;
                    let mut file = tempfile::NamedTempFile::new_in(dir)?;
                    file.write_all(&object)?;
                    file.as_file().sync_all()?;
                    std::io::Result::Ok(StagedFile::new(file.into_temp_path(), size))
                })
                .await??;
                blobs.put_file(&key, staged).await?;
                Ok(sha256)
            }
        }
    }

    /// Reads back what [`Target::put`] stored under `name`.
    async fn get(&self, name: &str) -> anyhow::Result<Bytes> {
        match self {
            Target::Node(client, _) => Ok(client.download(name, 0, LARGE as u64).await?),
            Target::Backend(blobs, _) => {
                let key = BlobKey::blob(name).context("a sha256 is a key")?;
                let reader = blobs.get(&key).await?.context("stored object is gone")?;
                Ok(Bytes::from(reader.into_bytes().await?))
            }
        }
    }
}

/// Puts `count` random objects of `size` bytes `concurrency` at once, then
/// reads them all back; (put rate, get rate) in objects/s.
async fn measure(
    target: &Target,
    size: usize,
    count: usize,
    concurrency: usize,
) -> anyhow::Result<(f64, f64)> {
    let objects: Vec<Bytes> = (0..count)
        .map(|_| {
            let mut bytes = vec![0u8; size];
            rand::thread_rng().fill_bytes(&mut bytes);
            Bytes::from(bytes)
        })
        .collect();
    let sums: Vec<[u8; 32]> = objects.iter().map(|o| Sha256::digest(o).into()).collect();
    let started = Instant::now();
    let names: Vec<String> = stream::iter(objects)
        .map(|object| target.put(object))
        .buffered(concurrency)
        .try_collect()
        .await?;
    let put = started.elapsed();
    let started = Instant::now();
    let got: Vec<Bytes> = stream::iter(&names)
        .map(|name| target.get(name))
        .buffered(concurrency)
        .try_collect()
        .await?;
    let get = started.elapsed();
    for (object, sum) in got.iter().zip(&sums) {
        if Sha256::digest(object).as_slice() != sum {
            bail!("an object read back differs from what was stored");
        }
    }
    let rate = |d: Duration| count as f64 / d.as_secs_f64().max(f64::MIN_POSITIVE);
    Ok((rate(put), rate(get)))
}

/// One run of every size on `target`.
async fn run_side(target: &Target, args: &ArtifactsBenchArgs) -> anyhow::Result<Rates> {
    let (small_up, small_down) = measure(target, SMALL, args.small_count, args.concurrency).await?;
    // At most 2 large objects at once: 64 MiB in flight per side.
    let (large_up, large_down) =
        measure(target, LARGE, args.large_count, args.concurrency.min(2)).await?;
    let mb = |per_s: f64| per_s * LARGE as f64 / 1e6;
    Ok([small_up, small_down, mb(large_up), mb(large_down)])
}

/// A node on `backend` in this process, and a funded key to upload with.
async fn node_on(
    backend: ArtifactBackend,
) -> anyhow::Result<(swarm_node::RunningNode, tempfile::TempDir, Target)> {
    let key = PrivateKey::random();
    let dir = tempfile::tempdir()?;
    let mut config = swarm_node::NodeConfig::new(super::funded_genesis([&key]));
    config.data_dir = dir.path().to_owned();
    config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    config.limits = swarm_node::Limits::unlimited();
    config.artifacts = backend;
    let node = swarm_node::start(config)
        .await
        .context("cannot start the bench node")?;
    let client = NodeClient::new(node.url());
    Ok((node, dir, Target::Node(client, key)))
}

/// Runs `swarm bench artifacts`.
pub(crate) async fn run(args: ArtifactsBenchArgs) -> anyhow::Result<()> {
    if args.runs == 0 || args.concurrency == 0 {
        bail!("--runs and --concurrency must be at least 1");
    }
    let mut _server = None;
    let s3 = match &args.s3 {
        Some(s3) => s3.clone(),
        None => {
            let server = LocalS3::start()
                .await
                .context("cannot start a private S3-compatible server (moto_server)")?;
            let mut config = server.fresh_bucket("bench").await?;
            config.timeout = Duration::from_secs(120);
            _server = Some(server);
            config
        }
    };
    let (local_node, _local_dir, local) = node_on(ArtifactBackend::Local).await?;
    let (s3_node, _s3_dir, remote) = node_on(ArtifactBackend::S3(s3.clone())).await?;
    let dir = tempfile::tempdir()?;
    let local_blobs = Target::Backend(
        Arc::new(LocalBlobs::open(dir.path().join("artifacts"))?),
        tempfile::tempdir_in(dir.path())?,
    );
    let mut direct = s3.clone();
    direct.prefix = format!("{}/direct", direct.prefix);
    let s3_blobs = Target::Backend(
        Arc::new(S3Blobs::connect(direct).await?),
        tempfile::tempdir()?,
    );
    let sides: [(&'static str, &Target); 4] = [
        ("node, local directory", &local),
        ("node, object store", &remote),
        ("local directory alone", &local_blobs),
        ("object store alone", &s3_blobs),
    ];
    // Warm-up: connections, page cache, the server's first requests.
    for (_, target) in &sides {
        measure(target, SMALL, 16, args.concurrency).await?;
    }
    let mut rates: Vec<Vec<Rates>> = vec![Vec::new(); sides.len()];
    for run in 0..args.runs {
        for (i, (name, target)) in sides.iter().enumerate() {
            let r = run_side(target, &args).await?;
            if !args.json {
                eprintln!(
                    "run {}: {name}: 1 KiB {:.0}/s up {:.0}/s down; 32 MiB {:.0} MB/s up {:.0} MB/s down",
                    run + 1,
                    r[0],
                    r[1],
                    r[2],
                    r[3]
                );
            }
            rates[i].push(r);
        }
    }
    let report: Vec<Side> = sides
        .iter()
        .zip(&rates)
        .map(|((name, _), runs)| {
            let column = |k: usize| median(&mut runs.iter().map(|r| r[k]).collect::<Vec<_>>());
            Side {
                name,
                small_upload_per_s: column(0),
                small_download_per_s: column(1),
                large_upload_mb_s: column(2),
                large_download_mb_s: column(3),
            }
        })
        .collect();
    local_node.shutdown().await?;
    s3_node.shutdown().await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "medians of {} runs: {} x 1 KiB and {} x 32 MiB objects, {} at once; object store {}",
        args.runs,
        args.small_count,
        args.large_count,
        args.concurrency,
        if args.s3.is_some() {
            s3.url()
        } else {
            "a private moto_server on loopback".into()
        }
    );
    println!(
        "{:<24} {:>14} {:>14} {:>16} {:>16}",
        "side", "1 KiB up/s", "1 KiB down/s", "32 MiB up MB/s", "32 MiB down MB/s"
    );
    for s in &report {
        println!(
            "{:<24} {:>14.0} {:>14.0} {:>16.1} {:>16.1}",
            s.name,
            s.small_upload_per_s,
            s.small_download_per_s,
            s.large_upload_mb_s,
            s.large_download_mb_s
        );
    }
    let (l, o) = (&report[0], &report[1]);
    println!(
        "object store / local directory, through the node: 1 KiB up {:.2} down {:.2}; 32 MiB up {:.2} down {:.2}",
        o.small_upload_per_s / l.small_upload_per_s,
        o.small_download_per_s / l.small_download_per_s,
        o.large_upload_mb_s / l.large_upload_mb_s,
        o.large_download_mb_s / l.large_download_mb_s,
    );
    let a = &report[3];
    println!(
        "node on the object store / the object store alone: 1 KiB up {:.2} down {:.2}; 32 MiB up {:.2} down {:.2}",
        o.small_upload_per_s / a.small_upload_per_s,
        o.small_download_per_s / a.small_download_per_s,
        o.large_upload_mb_s / a.large_upload_mb_s,
        o.large_download_mb_s / a.large_download_mb_s,
    );
    Ok(())
}
