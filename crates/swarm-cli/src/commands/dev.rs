//! `swarm dev`: a whole marketplace on this machine in one command.
//!
//! It starts an embedded node on the dev genesis, funds the accounts it
//! needs, and runs an EICAR/benign ambassador (with `--urls`, every second
//! bounty a URL bounty of known-bad and known-good URLs), an arbiter and the
//! EICAR engine in this process — plus each `--engine CMD` as a child process that
//! finds the node and a funded keyfile in its environment (`SWARM_NODE`,
//! `SWARM_KEYFILE`, `SWARM_PASSWORD`). After `--bounties N` have settled it
//! prints what every engine asserted, how often it was right and what it
//! earned, and the consensus of every bounty; `--keep` leaves the node up.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use swarm_engines::EicarExact;
use swarm_node::{dev_genesis, dev_key, NodeConfig};
use swarm_protocol::{
    Address, Amount, ArtifactType, Bounty, Event, KdfStrength, Keystore, Mint, PrivateKey,
};
use swarm_sdk::{
    Ambassador, AmbassadorReport, Arbiter, EicarSource, Microengine, Multiplier, NodeClient,
    ScannerTruth,
};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

/// `swarm dev` flags.
#[derive(Args, Debug)]
pub(crate) struct DevArgs {
    /// Bounties to post before the run ends.
    #[arg(long, default_value_t = 10)]
    bounties: usize,
    /// Also run this engine (repeatable): a built-in one by name (`eicar`,
    /// `eicar-sha256`, `clamav`, `yara`, `webhook`, `wine`, or a
    /// comma-separated list of them such as `clamav,yara`, run as `swarm
    /// engine run NAME` with the engine flags below) or a shell command,
    /// such as the binary of a crate made by `swarm new`. It gets
    /// SWARM_NODE, SWARM_KEYFILE, SWARM_PASSWORD and SWARM_JOURNAL (in the
    /// data directory) in its environment.
    #[arg(long = "engine", value_name = "CMD")]
    engines: Vec<String>,
    /// Leave the node running after the run (until Ctrl-C).
    #[arg(long)]
    keep: bool,
    /// Address of the embedded node.
    #[arg(long, env = "SWARM_LISTEN", default_value = "127.0.0.1:31337")]
    listen: SocketAddr,
    /// Keep the chain, artifacts, keys and logs here (default: a temporary directory).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Block time of the embedded node, in milliseconds.
    #[arg(long, default_value_t = 100)]
    block_time_ms: u64,
    /// Most artifacts in one bounty.
    #[arg(long, default_value_t = 3)]
    artifacts: usize,
    /// Seed of the EICAR/benign mix, for a repeatable run.
    #[arg(long)]
    seed: Option<u64>,
    /// Make every second bounty a URL bounty: EICAR download URLs
    /// (`http://malware.example/eicar-N.com`, malicious) and pages of
    /// `https://example.com/` (benign). The built-in EICAR engine and the
    /// arbiter call a URL malicious when it holds "eicar".
    #[arg(long)]
    urls: bool,
    /// Give up when the run takes longer than this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
    /// Print the final summary as JSON instead of tables.
    #[arg(long)]
    json: bool,
    /// Give every participant a health and metrics server on a free local
    /// port (built-in engines run with `--engine` too, through
    /// SWARM_METRICS_LISTEN), print each address on stderr as `swarm dev:
    /// metrics: ROLE ADDRESS URL` and list them in the `--json` summary.
    /// The participants then stay up 3 s after the last settlement, so a
    /// scraper reads their final counters.
    #[arg(long)]
    metrics: bool,
    /// Settings of the built-in engines run with `--engine`, passed to
    /// each in its environment.
    #[command(flatten)]
    options: crate::engines::EngineOptions,
}

/// Password of the keyfiles `swarm dev` writes for external engines.
const DEV_PASSWORD: &str = "swarm-dev";

/// NCT each engine starts with.
const ENGINE_FUNDS: u128 = 1_000;

/// Reward of each dev bounty: enough that being right pays more than the fees.
const BOUNTY_NCT: u128 = 2;

/// Assertion round of the dev bounties, in blocks.
const BOUNTY_DURATION: u64 = 5;

/// How long participants stay up after the run with `--metrics`: longer
/// than the SDK's 1 s balance poll, so the gauges settle too.
const METRICS_LINGER: Duration = Duration::from_secs(3);

/// A free local address for a participant's metrics server, announced on
/// stderr and recorded for the summary; `None` without `--metrics`.
fn metrics_addr(
    args: &DevArgs,
    role: &str,
    address: Address,
    listed: &mut Vec<serde_json::Value>,
) -> anyhow::Result<Option<SocketAddr>> {
    if !args.metrics {
        return Ok(None);
    }
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("cannot find a free port for a metrics server")?;
    let url = format!("http://{addr}");
    eprintln!("swarm dev: metrics: {role} {address} {url}");
    listed.push(serde_json::json!({"role": role, "address": address.to_string(), "url": url}));
    Ok(Some(addr))
}

/// One engine of the run.
struct EngineSlot {
    name: String,
    key: PrivateKey,
    before: Amount,
    child: Option<Child>,
    log: Option<PathBuf>,
}

/// Per-engine results, from the settled bounties.
#[derive(Debug, Default, serde::Serialize)]
struct EngineSummary {
    name: String,
    address: String,
    artifacts_asserted: usize,
    right: usize,
    wrong: usize,
    bids_won: Amount,
    bids_lost: Amount,
    nct_before: Amount,
    nct_after: Amount,
}

/// Per-bounty results.
#[derive(Debug, serde::Serialize)]
struct BountySummary {
    guid: String,
    /// `file` or `url`.
    artifact_type: ArtifactType,
    artifacts: Vec<String>,
    consensus: Option<Vec<bool>>,
    expected: Vec<Option<bool>>,
    assertions: usize,
}

pub(crate) async fn run(args: DevArgs) -> anyhow::Result<()> {
    let temp;
    let data_dir = match &args.data_dir {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::tempdir().context("cannot create a temporary directory")?;
            temp.path().to_path_buf()
        }
    };
    let mut genesis = dev_genesis();
    genesis.parameters.block_time_ms = Some(args.block_time_ms);
    let mut config = NodeConfig::new(genesis);
    config.data_dir = data_dir.clone();
    config.listen = args.listen;
    let node = swarm_node::start(config)
        .await
        .with_context(|| format!("cannot start the node on {}", args.listen))?;
    let url = node.url();
    let client = NodeClient::new(url.clone());
    eprintln!("swarm dev: node on {url}, data in {}", data_dir.display());

    // Cancelled by Ctrl-C or SIGTERM.
    let stop = swarm_sdk::shutdown_on_signal();

    // The participants stop at the end of the run; the node, with --keep, only on Ctrl-C.
    let result = marketplace(&args, &client, &data_dir, stop.child_token()).await;

    if args.keep && result.is_ok() && !stop.is_cancelled() {
        eprintln!(
            "swarm dev: the node stays up on {url} (explorer at {url}/, API at /openapi.json); Ctrl-C stops it"
        );
        stop.cancelled().await;
    }
    node.shutdown()
        .await
        .context("the node stopped with an error")?;
    result
}

/// Runs the participants, then prints the summary.
async fn marketplace(
    args: &DevArgs,
    client: &NodeClient,
    data_dir: &Path,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let community = client.parameters().await?.community;
    let ambassador_key = dev_key(0);
    let arbiter_key = dev_key(1);
    let mut engines = vec![EngineSlot {
        name: "eicar (built in)".to_owned(),
        key: dev_key(2),
        before: Amount::ZERO,
        child: None,
        log: None,
    }];
    for (i, cmd) in args.engines.iter().enumerate() {
        engines.push(EngineSlot {
            name: cmd.clone(),
            key: dev_key(10 + i as u32),
            before: Amount::ZERO,
            child: None,
            log: None,
        });
    }
    // Fund every engine from the faucet, all in one block.
    let mut mints = Vec::new();
    for e in &engines {
        let mint = Mint {
            to: e.key.address(),
            amount: Amount::from_nct(ENGINE_FUNDS),
        };
        mints.push(client.sign(&e.key, &community, mint).await?);
    }
    for (e, result) in engines.iter().zip(client.submit(&mints, true).await?) {
        result.with_context(|| format!("cannot fund {}", e.name))?;
    }
    for e in engines.iter_mut() {
        e.before = client.balance(&e.key.address()).await?;
    }

    let mut metrics = Vec::new();
    // External engines: a keyfile each, then the command.
    let keys_dir = data_dir.join("keys");
    let logs_dir = data_dir.join("logs");
    std::fs::create_dir_all(&keys_dir).context("cannot create the keys directory")?;
    std::fs::create_dir_all(&logs_dir).context("cannot create the logs directory")?;
    for (i, e) in engines.iter_mut().enumerate().skip(1) {
        let keyfile = keys_dir.join(format!("engine-{i}.json"));
        let keystore = Keystore::encrypt(&e.key, DEV_PASSWORD, KdfStrength::Light)
            .context("cannot encrypt an engine key")?;
        std::fs::write(&keyfile, keystore.to_json_pretty()?)
            .with_context(|| format!("cannot write {}", keyfile.display()))?;
        let log = logs_dir.join(format!("engine-{i}.log"));
        let out = std::fs::File::create(&log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let err = out.try_clone()?;
        let mut command = Command::new("sh");
        if let Some(addr) = metrics_addr(args, "engine", e.key.address(), &mut metrics)? {
            command.env("SWARM_METRICS_LISTEN", addr.to_string());
        }
        let child = command
            .arg("-c")
            .arg(engine_command(&e.name)?)
            .env("SWARM_NODE", client.base_url())
            .env("SWARM_KEYFILE", &keyfile)
            .env("SWARM_PASSWORD", DEV_PASSWORD)
            .env("SWARM_JOURNAL", data_dir.join(format!("journal-{i}")))
            .env("SWARM_COMMUNITY", &community)
            .envs(args.options.env())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            // Its own process group, so that stopping it also stops whatever
            // the shell started.
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot start engine {:?}", e.name))?;
        e.child = Some(child);
        e.log = Some(log);
    }

    // The in-process participants.
    let mut eicar = Microengine::builder(EicarExact)
        .node(client.base_url())
        .key(engines[0].key.clone())
        .bid_strategy(Arc::new(Multiplier::DEFAULT))
        .journal(data_dir.join("journal"))
        .shutdown(stop.clone());
    if let Some(addr) = metrics_addr(args, "engine", engines[0].key.address(), &mut metrics)? {
        eicar = eicar.metrics_listen(addr);
    }
    let eicar_task = tokio::spawn(eicar.build()?.run());
    let mut arbiter = Arbiter::builder(ScannerTruth::new(EicarExact))
        .node(client.base_url())
        .key(arbiter_key.clone())
        .shutdown(stop.clone());
    if let Some(addr) = metrics_addr(args, "arbiter", arbiter_key.address(), &mut metrics)? {
        arbiter = arbiter.metrics_listen(addr);
    }
    let arbiter = arbiter.build()?;
    let arbiter_task = tokio::spawn(arbiter.run());
    // Give every engine a moment to subscribe before the first bounty.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut source = EicarSource::new(args.bounties)
        .max_artifacts(args.artifacts.max(1))
        .urls(args.urls);
    if let Some(seed) = args.seed {
        source = source.seed(seed);
    }
    let mut ambassador = Ambassador::builder(source)
        .node(client.base_url())
        .key(ambassador_key.clone())
        .duration(BOUNTY_DURATION)
        .amount(Amount::from_nct(BOUNTY_NCT))
        .interval(Duration::from_millis(args.block_time_ms))
        .max_in_flight(8)
        .shutdown(stop.clone());
    if let Some(addr) = metrics_addr(args, "ambassador", ambassador_key.address(), &mut metrics)? {
        ambassador = ambassador.metrics_listen(addr);
    }
    let ambassador_task = tokio::spawn(ambassador.build()?.run());

    let progress = progress_bar(client.clone(), args.bounties, stop.clone());
    let outcome = tokio::select! {
        r = ambassador_task => match r {
            Ok(Ok(report)) => Ok(report),
            Ok(Err(e)) => Err(anyhow::Error::from(e)),
            Err(e) => Err(anyhow::anyhow!("the ambassador task failed: {e}")),
        },
        crashed = watch_children(&mut engines) => Err(crashed),
        _ = tokio::time::sleep(Duration::from_secs(args.timeout_secs)) => {
            Err(anyhow::anyhow!("the run did not finish within {} s", args.timeout_secs))
        }
    };
    if args.metrics && outcome.is_ok() {
        tokio::time::sleep(METRICS_LINGER).await;
    }
    stop.cancel();
    if outcome.is_ok() {
        progress.finish_and_clear();
    } else {
        progress.abandon();
    }
    for e in engines.iter_mut() {
        if let Some(child) = e.child.as_mut() {
            stop_child(child).await;
        }
    }
    let report = outcome?;
    let _ = eicar_task.await;
    let _ = arbiter_task.await;

    let (engine_rows, bounty_rows) = summarize(client, &engines, &report).await?;
    if args.json {
        let mut out = serde_json::json!({"engines": engine_rows, "bounties": bounty_rows});
        if args.metrics {
            out["metrics"] = serde_json::Value::Array(metrics);
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_tables(&engine_rows, &bounty_rows);
    }

    if report.settled() < args.bounties {
        bail!(
            "only {} of {} bounties settled",
            report.settled(),
            args.bounties
        );
    }
    if let Some(idle) = engine_rows.iter().find(|e| e.artifacts_asserted == 0) {
        let log = engines
            .iter()
            .find(|e| e.name == idle.name)
            .and_then(|e| e.log.as_ref())
            .map(|l| format!("; its log is {}", l.display()))
            .unwrap_or_default();
        bail!("engine {:?} never asserted{log}", idle.name);
    }
    Ok(())
}

/// The shell command of an `--engine` value: a built-in engine's name, or
/// a comma-separated list of them, becomes this binary's `engine run
/// NAME[,NAME...]`; anything else is run as is.
fn engine_command(spec: &str) -> anyhow::Result<String> {
    if !crate::engines::is_builtin(spec) {
        return Ok(spec.to_owned());
    }
    let exe = std::env::current_exe().context("cannot find the swarm binary")?;
    let exe = exe.to_string_lossy().replace('\'', "'\\''");
    // Only built-in names, commas and spaces: quoted, it is one argument.
    Ok(format!("'{exe}' engine run '{}'", spec.trim()))
}

/// Stops an engine's whole process group: SIGTERM, then SIGKILL for what
/// is still alive after 5 s. (Waiting for the shell alone is not enough: the
/// engine it started may still be shutting down.)
async fn stop_child(child: &mut Child) {
    if let Some(pid) = child.id() {
        let group = format!("-{pid}");
        let signal = |sig: &'static str| {
            let group = group.clone();
            async move {
                Command::new("kill")
                    .args([sig, "--", &group])
                    .stderr(Stdio::null())
                    .status()
                    .await
                    .is_ok_and(|s| s.success())
            }
        };
        signal("-TERM").await;
        for _ in 0..50 {
            if !signal("-0").await {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        signal("-KILL").await;
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
}

/// Fails as soon as an external engine exits; waits forever otherwise.
async fn watch_children(engines: &mut [EngineSlot]) -> anyhow::Error {
    loop {
        for e in engines.iter_mut() {
            if let Some(child) = e.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    let log = e.log.as_ref().map(|l| tail(l)).unwrap_or_default();
                    return anyhow::anyhow!(
                        "engine {:?} exited ({status}) before the run ended; last lines of its log:\n{log}",
                        e.name
                    );
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// A spinner showing the block height and bounties posted and settled.
fn progress_bar(client: NodeClient, total: usize, stop: CancellationToken) -> ProgressBar {
    let bar = ProgressBar::new(total as u64);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} block {prefix}  {bar:30} {pos}/{len} settled  {msg}",
    ) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    let shown = bar.clone();
    tokio::spawn(async move {
        let mut events = client.events(None);
        let (mut posted, mut settled) = (0usize, 0u64);
        loop {
            let event = tokio::select! {
                _ = stop.cancelled() => return,
                e = events.next() => e,
            };
            match event.event {
                Event::Block { number } => shown.set_prefix(number.to_string()),
                Event::Bounty(_) => posted += 1,
                Event::SettledBounty(_) => settled += 1,
                _ => {}
            }
            shown.set_position(settled);
            shown.set_message(format!("{posted} posted"));
        }
    });
    bar
}

/// Per-engine and per-bounty results, read back from the node.
async fn summarize(
    client: &NodeClient,
    engines: &[EngineSlot],
    report: &AmbassadorReport,
) -> anyhow::Result<(Vec<EngineSummary>, Vec<BountySummary>)> {
    let mut by_address: BTreeMap<Address, EngineSummary> = BTreeMap::new();
    for e in engines {
        by_address.insert(
            e.key.address(),
            EngineSummary {
                name: e.name.clone(),
                address: e.key.address().to_string(),
                nct_before: e.before,
                nct_after: client.balance(&e.key.address()).await?,
                ..Default::default()
            },
        );
    }
    let mut bounties = Vec::new();
    for outcome in &report.outcomes {
        let Some(bounty) = client.bounty(&outcome.guid).await? else {
            continue;
        };
        tally(&bounty, &mut by_address);
        bounties.push(BountySummary {
            guid: outcome.guid.to_string(),
            artifact_type: bounty.artifact_type,
            artifacts: outcome.artifacts.clone(),
            consensus: outcome.consensus.clone(),
            expected: outcome.expected.clone(),
            assertions: bounty.assertions.len(),
        });
    }
    Ok((by_address.into_values().collect(), bounties))
}

/// Adds one settled bounty's assertions to the engines' tallies: an
/// unrevealed assertion is wrong on every artifact, as in settlement.
fn tally(bounty: &Bounty, engines: &mut BTreeMap<Address, EngineSummary>) {
    let Some(settlement) = &bounty.settlement else {
        return;
    };
    let Some(consensus) = settlement.outcome.consensus else {
        return;
    };
    for assertion in &bounty.assertions {
        let Some(row) = engines.get_mut(&assertion.author) else {
            continue;
        };
        for (i, bid) in assertion.mask.iter().zip(&assertion.bids) {
            row.artifacts_asserted += 1;
            let right = assertion
                .revealed
                .as_ref()
                .is_some_and(|r| r.verdicts.get(i) == consensus.get(i));
            if right {
                row.right += 1;
                row.bids_won = row.bids_won.checked_add(*bid).unwrap_or(row.bids_won);
            } else {
                row.wrong += 1;
                row.bids_lost = row.bids_lost.checked_add(*bid).unwrap_or(row.bids_lost);
            }
        }
    }
}

fn verdict_word(v: bool) -> &'static str {
    if v {
        "malicious"
    } else {
        "benign"
    }
}

fn print_tables(engines: &[EngineSummary], bounties: &[BountySummary]) {
    println!(
        "\n{:<24} {:<42} {:>8} {:>6} {:>6} {:>14} {:>14} {:>14} {:>14}",
        "engine",
        "address",
        "asserted",
        "right",
        "wrong",
        "bids won",
        "bids lost",
        "NCT before",
        "NCT after"
    );
    for e in engines {
        let name = if e.name.chars().count() > 24 {
            let head: String = e.name.chars().take(23).collect();
            format!("{head}…")
        } else {
            e.name.clone()
        };
        println!(
            "{:<24} {:<42} {:>8} {:>6} {:>6} {:>14} {:>14} {:>14} {:>14}",
            name,
            e.address,
            e.artifacts_asserted,
            e.right,
            e.wrong,
            e.bids_won.to_nct_string(),
            e.bids_lost.to_nct_string(),
            e.nct_before.to_nct_string(),
            e.nct_after.to_nct_string()
        );
    }
    println!(
        "\n{:<38} {:>10}  consensus (expected)",
        "bounty", "assertions"
    );
    for b in bounties {
        let verdicts: Vec<String> = match &b.consensus {
            Some(c) => c
                .iter()
                .zip(&b.expected)
                .map(|(c, e)| match e {
                    Some(e) if e != c => {
                        format!("{} (expected {})", verdict_word(*c), verdict_word(*e))
                    }
                    _ => verdict_word(*c).to_owned(),
                })
                .collect(),
            None => vec!["no vote".to_owned()],
        };
        println!(
            "{:<38} {:>10}  {}",
            b.guid,
            b.assertions,
            verdicts.join(", ")
        );
    }
}
