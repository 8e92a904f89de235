//! `swarm bench engines`: the clamav and yara engines against the command
//! line tools of the products they wrap, side by side on the same files.
//!
//! An engine that wraps a scanner is only worth running if the wrapping
//! costs little; the fair reference is the product's own client on the
//! same input in the same run. So:
//!
//! - **clamav**: a private clamd is started (as in the tests: the EICAR and
//!   `clam.exe` signatures; see [`LocalClamd`]) on a Unix socket. Each timed
//!   run scans the whole corpus five ways against that one daemon, one after
//!   the other: the clamav engine with `--clamd-connections` scans at once
//!   (each artifact passed as a memory file's descriptor, `FILDES`), the
//!   same engine one scan at a time, the engine streaming every artifact
//!   with `INSTREAM` (`--clamd-connections` at once, as over TCP),
//!   `clamdscan --stream --config-file=... FILES...` (one process for all
//!   files; clamdscan streams one file at a time), and `clamdscan
//!   --multiscan --fdpass FILES...`, clamd opening the files itself and
//!   scanning them on all its threads: the most this clamd can do, the
//!   limit. The engine's time includes reading each file into memory, as
//!   the microengine runtime hands a scanner the artifact's bytes.
//! - **yara**: a generated rule set (text and hex strings, a regex, meta,
//!   and one rule on the `pe` module) is compiled by yara-x once; each timed run scans the corpus with the
//!   yara engine (one scan per core at a time, files read into memory), and
//!   runs Debian's `yara -p CORES -r RULES DIR` (libyara; its time includes
//!   compiling the rules, which is reported separately for yara-x).
//!
//! The corpus is generated in a temporary directory from a seed: random
//! (incompressible) files of 1 KiB, 16 KiB, 256 KiB, 1 MiB, 4 MiB and
//! 32 MiB, the EICAR file, and a copy of Debian's `clamav-testfiles`. A
//! warm-up pass of every side runs first (page cache, clamd's threads);
//! then `--runs` rounds interleave the sides, and the report gives each
//! side's median wall time, files/s and MB/s (10^6 bytes), and the ratio
//! of the engine's rate to the CLI's. Both sides must agree on what they
//! detect, or the bench fails.

use std::path::PathBuf;
use std::process::Stdio;
#[cfg(feature = "yara")]
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::{Args, ValueEnum};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use rand::{RngCore, SeedableRng};
use serde::Serialize;
use swarm_engines::local_clamd::TESTFILES_DIR;
use swarm_engines::{Clamav, ClamavConfig, LocalClamd, Transfer, EICAR};
#[cfg(feature = "yara")]
use swarm_engines::{Yara, YaraRules};
use swarm_protocol::{ArtifactMetadata, Guid};
use swarm_sdk::{Artifact, ArtifactKind, Scanner, Verdict};
use tokio::process::Command;

/// The generated files: (size, count) at `--scale 1`.
const SIZES: [(usize, usize); 6] = [
    (1 << 10, 64),
    (16 << 10, 32),
    (256 << 10, 16),
    (1 << 20, 8),
    (4 << 20, 4),
    (32 << 20, 2),
];

/// Bytes that rule `bench_7` of [`bench_rules`] matches.
const YARA_MARK: &[u8] = b"bench7deadbeefx";

/// Which engines to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Which {
    /// Both.
    All,
    /// clamav vs clamdscan.
    Clamav,
    /// yara vs the yara CLI.
    Yara,
}

/// Flags of `swarm bench engines`.
#[derive(Args, Clone, Debug)]
pub(crate) struct EnginesBenchArgs {
    /// Which engines to measure.
    #[arg(long, value_enum, default_value = "all")]
    only: Which,
    /// Timed runs of every side; the report gives medians.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Multiply the generated files' counts by this.
    #[arg(long, default_value_t = 1)]
    scale: usize,
    /// Seed of the generated files.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Scans the clamav engine runs at once (its --clamd-max-connections).
    #[arg(long, default_value_t = 4)]
    clamd_connections: usize,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
}

/// The files every side scans.
struct Corpus {
    /// Holds the files; removed on drop.
    dir: tempfile::TempDir,
    files: Vec<PathBuf>,
    bytes: u64,
}

impl Corpus {
    /// Generates the corpus under a temporary directory.
    fn generate(scale: usize, seed: u64) -> anyhow::Result<Corpus> {
        let dir = tempfile::Builder::new()
            .prefix("swarm-bench-corpus-")
            .tempdir()
            .context("cannot create the corpus directory")?;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut files = Vec::new();
        for (size, count) in SIZES {
            for i in 0..count * scale {
                let mut content = vec![0u8; size];
                rng.fill_bytes(&mut content);
                if i == 0 {
                    // One file of each size matches rule bench_7's regex, in its middle.
                    let at = size / 2;
                    content[at..at + YARA_MARK.len()].copy_from_slice(YARA_MARK);
                }
                let path = dir.path().join(format!("random-{size}-{i}.bin"));
                std::fs::write(&path, &content)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                files.push(path);
            }
        }
        let eicar = dir.path().join("eicar.com");
        std::fs::write(&eicar, EICAR).context("cannot write eicar.com")?;
        files.push(eicar);
        let testfiles = std::fs::read_dir(TESTFILES_DIR)
            .with_context(|| format!("cannot list {TESTFILES_DIR} (install clamav-testfiles)"))?;
        let mut names: Vec<PathBuf> = testfiles
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        names.sort();
        for source in names {
            let Some(name) = source.file_name() else {
                continue;
            };
            let target = dir.path().join(name);
            std::fs::copy(&source, &target)
                .with_context(|| format!("cannot copy {}", source.display()))?;
            files.push(target);
        }
        let mut bytes = 0;
        for f in &files {
            bytes += std::fs::metadata(f)?.len();
        }
        Ok(Corpus { dir, files, bytes })
    }
}

/// One side's timed runs.
#[derive(Debug, Serialize)]
struct Side {
    /// What ran.
    name: String,
    /// Wall time of every timed run, seconds.
    runs_secs: Vec<f64>,
    /// Median of `runs_secs`.
    median_secs: f64,
    /// Files per second at the median.
    files_per_sec: f64,
    /// MB (10^6 bytes) per second at the median.
    mb_per_sec: f64,
    /// Detections in the last run.
    detections: usize,
}

impl Side {
    fn new(
        name: impl Into<String>,
        mut runs: Vec<f64>,
        corpus: &Corpus,
        detections: usize,
    ) -> Side {
        let median = super::stats::median(&mut runs);
        Side {
            name: name.into(),
            runs_secs: runs,
            median_secs: median,
            files_per_sec: corpus.files.len() as f64 / median,
            mb_per_sec: corpus.bytes as f64 / 1e6 / median,
            detections,
        }
    }
}

/// One comparison.
#[derive(Debug, Serialize)]
struct Comparison {
    /// What is compared.
    title: String,
    /// Versions and settings.
    notes: Vec<String>,
    /// The sides; the last is the reference (the CLI, or clamd's limit).
    sides: Vec<Side>,
}

/// The whole report.
#[derive(Debug, Serialize)]
struct Report {
    files: usize,
    bytes: u64,
    runs: usize,
    cores: usize,
    comparisons: Vec<Comparison>,
}

/// Runs `swarm bench engines`.
pub(crate) async fn run(args: EnginesBenchArgs) -> anyhow::Result<()> {
    if args.runs == 0 || args.scale == 0 || args.clamd_connections == 0 {
        bail!("--runs, --scale and --clamd-connections must be at least 1");
    }
    let corpus = Corpus::generate(args.scale, args.seed)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    eprintln!(
        "corpus: {} files, {:.1} MB in {}",
        corpus.files.len(),
        corpus.bytes as f64 / 1e6,
        corpus.dir.path().display()
    );
    let mut comparisons = Vec::new();
    if matches!(args.only, Which::All | Which::Clamav) {
        comparisons.push(bench_clamav(&corpus, &args).await?);
    }
    #[cfg(feature = "yara")]
    if matches!(args.only, Which::All | Which::Yara) {
        comparisons.push(bench_yara(&corpus, &args, cores).await?);
    }
    #[cfg(not(feature = "yara"))]
    match args.only {
        Which::Yara => bail!("{}", crate::engines::WITHOUT_YARA),
        Which::All => eprintln!("yara: not measured: {}", crate::engines::WITHOUT_YARA),
        Which::Clamav => {}
    }
    let report = Report {
        files: corpus.files.len(),
        bytes: corpus.bytes,
        runs: args.runs,
        cores,
        comparisons,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(())
}

fn artifact(content: Vec<u8>) -> Artifact {
    Artifact {
        bounty_guid: Guid::nil(),
        index: 0,
        kind: ArtifactKind::File,
        content: Bytes::from(content),
        file: None,
        metadata: ArtifactMetadata::default(),
        deadline: None,
    }
}

/// Scans every file with `scanner`, `concurrency` at a time, reading each
/// first as the runtime downloads an artifact: into a sealed memory file
/// when the scanner wants one, else into memory. (wall time, malicious
/// verdicts).
async fn engine_pass<S: Scanner>(
    scanner: &S,
    files: &[PathBuf],
    concurrency: usize,
) -> anyhow::Result<(f64, usize)> {
    let started = Instant::now();
    let verdicts: Vec<Verdict> = stream::iter(files)
        .map(|path| async move {
            let artifact = if scanner.wants_memory_file() {
                let mut file = std::fs::File::open(path)
                    .with_context(|| format!("cannot open {}", path.display()))?;
                Artifact::read_file(&mut file)
                    .with_context(|| format!("cannot read {}", path.display()))?
            } else {
                let content = tokio::fs::read(path)
                    .await
                    .with_context(|| format!("cannot read {}", path.display()))?;
                artifact(content)
            };
            let result = scanner
                .scan(&artifact)
                .await
                .with_context(|| format!("scanning {}", path.display()))?;
            Ok::<_, anyhow::Error>(result.verdict)
        })
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    let secs = started.elapsed().as_secs_f64();
    Ok((secs, verdicts.iter().filter(|v| v.is_malicious()).count()))
}

/// Scans every file with clamd through its own descriptor (`FILDES` of the
/// opened file, nothing read or copied), `concurrency` at a time: the
/// engine's way of talking to clamd without the artifact's bytes in
/// memory. (wall time, files found).
async fn clamav_file_pass(
    clamav: &Clamav,
    files: &[PathBuf],
    concurrency: usize,
) -> anyhow::Result<(f64, usize)> {
    let started = Instant::now();
    let found: Vec<bool> = stream::iter(files)
        .map(|path| async move {
            let file = std::fs::File::open(path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            let reply = clamav
                .scan_file(&file)
                .await
                .with_context(|| format!("scanning {}", path.display()))?;
            Ok::<_, anyhow::Error>(matches!(reply, swarm_engines::ClamdReply::Found(_)))
        })
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    let secs = started.elapsed().as_secs_f64();
    Ok((secs, found.iter().filter(|f| **f).count()))
}

/// Runs a CLI: (wall time, stdout).
async fn cli_pass(command: &mut Command) -> anyhow::Result<(f64, String)> {
    let started = Instant::now();
    let out = command
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("cannot run {command:?}"))?;
    let secs = started.elapsed().as_secs_f64();
    Ok((secs, String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// The first line a command prints with `arg`.
async fn version_of(program: &str, arg: &str) -> String {
    match Command::new(program).arg(arg).output().await {
        Ok(out) => String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_owned(),
        Err(e) => format!("unknown ({e})"),
    }
}

async fn bench_clamav(corpus: &Corpus, args: &EnginesBenchArgs) -> anyhow::Result<Comparison> {
    let clamd = LocalClamd::start().await.context("cannot start clamd")?;
    let config = |connections, fd_passing| ClamavConfig {
        max_connections: connections,
        timeout: Duration::from_secs(300),
        fd_passing,
        ..ClamavConfig::new(clamd.unix_address())
    };
    let parallel = Clamav::new(config(args.clamd_connections, true));
    let sequential = Clamav::new(config(1, true));
    let streaming = Clamav::new(config(args.clamd_connections, false));
    let version = parallel.version().await.context("clamd VERSION")?;
    let conf = format!("--config-file={}", clamd.config_file().display());
    let clamdscan = || {
        let mut c = Command::new("clamdscan");
        c.arg("--stream")
            .arg(&conf)
            .arg("--no-summary")
            .args(&corpus.files);
        c
    };
    // clamd's own limit: it opens the files itself (the descriptors passed
    // over the socket) and scans them on all its threads, no bytes copied.
    let multiscan = || {
        let mut c = Command::new("clamdscan");
        c.arg("--multiscan")
            .arg("--fdpass")
            .arg(&conf)
            .arg("--no-summary")
            .args(&corpus.files);
        c
    };
    let found = |stdout: &str| stdout.lines().filter(|l| l.ends_with(" FOUND")).count();

    eprintln!("clamav: warm-up");
    let (_, expected) = engine_pass(&parallel, &corpus.files, args.clamd_connections).await?;
    let (_, d) = engine_pass(&streaming, &corpus.files, args.clamd_connections).await?;
    if d != expected {
        bail!("the clamav engine found {expected} files with FILDES, {d} with INSTREAM");
    }
    // A refused descriptor would have switched the engine to INSTREAM.
    if parallel.transfer() != Transfer::FdPassing {
        bail!("clamd refused the passed descriptors (see its log)");
    }
    for (what, mut command) in [("--stream", clamdscan()), ("--multiscan", multiscan())] {
        let (_, out) = cli_pass(&mut command).await?;
        if found(&out) != expected {
            bail!(
                "clamdscan {what} found {} files, the clamav engine {expected}:\n{out}",
                found(&out)
            );
        }
    }
    let (mut ours, mut ours_seq, mut theirs) = (Vec::new(), Vec::new(), Vec::new());
    let (mut multi, mut d_multi) = (Vec::new(), 0);
    let (mut ours_stream, mut d_stream) = (Vec::new(), 0);
    let (mut ours_file, mut d_file) = (Vec::new(), 0);
    let (mut d_ours, mut d_seq, mut d_theirs) = (0, 0, 0);
    for run in 0..args.runs {
        eprintln!("clamav: run {}/{}", run + 1, args.runs);
        let (secs, d) = engine_pass(&parallel, &corpus.files, args.clamd_connections).await?;
        ours.push(secs);
        d_ours = d;
        let (secs, d) = engine_pass(&streaming, &corpus.files, args.clamd_connections).await?;
        ours_stream.push(secs);
        d_stream = d;
        let (secs, d) = clamav_file_pass(&parallel, &corpus.files, args.clamd_connections).await?;
        ours_file.push(secs);
        d_file = d;
        let (secs, d) = engine_pass(&sequential, &corpus.files, 1).await?;
        ours_seq.push(secs);
        d_seq = d;
        let (secs, out) = cli_pass(&mut clamdscan()).await?;
        theirs.push(secs);
        d_theirs = found(&out);
        let (secs, out) = cli_pass(&mut multiscan()).await?;
        multi.push(secs);
        d_multi = found(&out);
    }
    if d_ours != d_theirs
        || d_seq != d_theirs
        || d_stream != d_theirs
        || d_file != d_theirs
        || d_multi != d_theirs
    {
        bail!(
            "detections differ: engine {d_ours}, engine 1 at a time {d_seq}, engine with \
             INSTREAM {d_stream}, FILDES of the files {d_file}, clamdscan --stream \
             {d_theirs}, --multiscan {d_multi}"
        );
    }
    Ok(Comparison {
        title: "clamav engine vs clamdscan --stream and clamd's own limit, \
                clamdscan --multiscan --fdpass (same clamd, Unix socket)"
            .into(),
        notes: vec![
            format!(
                "clamd: {} (private, MaxThreads 10, EICAR + clam.exe signatures)",
                version.product
            ),
            format!("clamdscan {}", version_of("clamdscan", "--version").await),
        ],
        sides: vec![
            Side::new(
                format!(
                    "swarm clamav engine, {} scans at once",
                    args.clamd_connections
                ),
                ours,
                corpus,
                d_ours,
            ),
            Side::new(
                "swarm clamav engine, 1 scan at a time",
                ours_seq,
                corpus,
                d_seq,
            ),
            Side::new(
                format!(
                    "swarm clamav engine, INSTREAM, {} at once",
                    args.clamd_connections
                ),
                ours_stream,
                corpus,
                d_stream,
            ),
            Side::new(
                format!(
                    "swarm clamav, FILDES of the files themselves, {} at once",
                    args.clamd_connections
                ),
                ours_file,
                corpus,
                d_file,
            ),
            Side::new("clamdscan --stream FILES...", theirs, corpus, d_theirs),
            Side::new(
                "clamdscan --multiscan --fdpass FILES... (the limit)",
                multi,
                corpus,
                d_multi,
            ),
        ],
    })
}

/// The bench's YARA rules: plain, hex, regex and EICAR, all with meta, and
/// one rule on the pe module (32-bit x86 Windows programs: the packed
/// `clam-*.exe` of clamav-testfiles), so that a module's parsing of every
/// file is in the times.
#[cfg(feature = "yara")]
fn bench_rules(seed: u64) -> String {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x5eed);
    let mut text = String::from(
        "import \"pe\"\n\nrule bench_pe {\n  meta:\n    family = \"Bench.PE32\"\n  \
         condition:\n    pe.is_pe and pe.machine == pe.MACHINE_I386\n}\n\n",
    );
    for i in 0..100 {
        let mut hex = [0u8; 8];
        rng.fill_bytes(&mut hex);
        let hex: Vec<String> = hex.iter().map(|b| format!("{b:02X}")).collect();
        text.push_str(&format!(
            "rule bench_{i} {{\n  meta:\n    family = \"Bench.Family{i}\"\n  strings:\n    \
             $text = \"swarm-bench-marker-{i}-{}\"\n    $hex = {{ {} }}\n    \
             $re = /bench{i}[0-9a-f]{{8}}x/\n  condition:\n    any of them\n}}\n\n",
            rng.next_u32(),
            hex.join(" ")
        ));
    }
    text.push_str(
        "rule eicar {\n  meta:\n    malware_family = \"EICAR-Test-File\"\n  strings:\n    \
         $e = \"EICAR-STANDARD-ANTIVIRUS-TEST-FILE\"\n  condition:\n    $e\n}\n",
    );
    text
}

#[cfg(feature = "yara")]
async fn bench_yara(
    corpus: &Corpus,
    args: &EnginesBenchArgs,
    cores: usize,
) -> anyhow::Result<Comparison> {
    let rules_dir = tempfile::tempdir().context("cannot create the rules directory")?;
    let rules_file = rules_dir.path().join("bench.yar");
    std::fs::write(&rules_file, bench_rules(args.seed)).context("cannot write the rules")?;
    let started = Instant::now();
    let rules = YaraRules::load_dir(rules_dir.path())?;
    let compile_secs = started.elapsed().as_secs_f64();
    let yara = Arc::new(Yara::new(rules, Duration::from_secs(300)));
    let corpus_dir = corpus.dir.path();
    let cli = || {
        let mut c = Command::new("yara");
        c.arg("-p")
            .arg(cores.to_string())
            .arg("-r")
            .arg(&rules_file)
            .arg(corpus_dir);
        c
    };
    // `yara` prints "RULE PATH" per match; count files with a match.
    let matched = |stdout: &str| {
        let mut files: Vec<&str> = stdout
            .lines()
            .filter_map(|l| l.split_once(' ').map(|(_, path)| path))
            .collect();
        files.sort_unstable();
        files.dedup();
        files.len()
    };
    // The yara engine's concurrency: one scan per core (its own limit).
    let concurrency = cores * 2;

    eprintln!("yara: warm-up");
    let (_, expected) = engine_pass(&*yara, &corpus.files, concurrency).await?;
    let (_, out) = cli_pass(&mut cli()).await?;
    if matched(&out) != expected {
        bail!(
            "yara matched {} files, the yara engine {expected}:\n{out}",
            matched(&out)
        );
    }
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let (mut d_ours, mut d_theirs) = (0, 0);
    for run in 0..args.runs {
        eprintln!("yara: run {}/{}", run + 1, args.runs);
        let (secs, d) = engine_pass(&*yara, &corpus.files, concurrency).await?;
        ours.push(secs);
        d_ours = d;
        let (secs, out) = cli_pass(&mut cli()).await?;
        theirs.push(secs);
        d_theirs = matched(&out);
    }
    if d_ours != d_theirs {
        bail!("detections differ: yara engine {d_ours}, yara CLI {d_theirs}");
    }
    Ok(Comparison {
        title: format!("yara engine (yara-x) vs yara -p {cores} -r (libyara)"),
        notes: vec![
            format!(
                "rules: 102 rules (one on the pe module), 301 patterns; yara-x compiles them in {:.0} ms (not in the engine's times; the CLI's times include its compile)",
                compile_secs * 1000.0
            ),
            format!("yara CLI {}", version_of("yara", "--version").await),
        ],
        sides: vec![
            Side::new(
                format!("swarm yara engine, {cores} scans at once"),
                ours,
                corpus,
                d_ours,
            ),
            Side::new(format!("yara -p {cores} -r RULES DIR"), theirs, corpus, d_theirs),
        ],
    })
}

fn print_report(report: &Report) {
    println!(
        "corpus: {} files, {:.1} MB; {} timed runs per side (medians); {} cores",
        report.files,
        report.bytes as f64 / 1e6,
        report.runs,
        report.cores
    );
    for c in &report.comparisons {
        println!();
        println!("{}", c.title);
        for note in &c.notes {
            println!("  {note}");
        }
        let Some(reference) = c.sides.last() else {
            continue;
        };
        println!(
            "| {:<42} | {:>9} | {:>8} | {:>8} | {:>10} | {:>16} |",
            "side", "median s", "files/s", "MB/s", "detections", "vs the last"
        );
        println!(
            "|{:-<44}|{:->11}|{:->10}|{:->10}|{:->12}|{:->18}|",
            "", "", "", "", "", ""
        );
        for s in &c.sides {
            println!(
                "| {:<42} | {:>9.3} | {:>8.1} | {:>8.1} | {:>10} | {:>15.2}x |",
                s.name,
                s.median_secs,
                s.files_per_sec,
                s.mb_per_sec,
                s.detections,
                reference.median_secs / s.median_secs
            );
        }
    }
}
