//! `swarm new`: scaffold a participant crate, as PolySwarm's cookiecutter
//! engine template did.
//!
//! The same questions in the same order (participant type, name, slugs,
//! organization, author, what it scans, whether it has an external backend,
//! how it scans), each answerable by a flag so that scripts and tests never
//! meet a prompt. The crate depends on `swarm-sdk` by absolute path, git or
//! version (`sdk.rs`), builds in a target directory shared by every crate
//! made here, marks every place the author must act with `CUSTOMIZE_HERE`,
//! and comes with a README of next steps, a first test and a Dockerfile.
//!
//! The crate is rendered into a hidden directory beside its destination and
//! renamed into place only when every file is written: an error never
//! leaves half a crate behind.

use std::io::IsTerminal;
use std::path::{Component, Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use clap::{Args, ValueEnum};
use minijinja::{context, Environment, UndefinedBehavior};

mod ask;
mod checks;
mod render;
mod sdk;
#[cfg(test)]
mod tests;

use ask::*;
use checks::*;
use render::*;
use sdk::*;

/// `swarm new` flags: each answers one prompt.
#[derive(Args, Debug, Default)]
pub(crate) struct NewArgs {
    /// Participant type.
    #[arg(long, value_enum)]
    participant: Option<Participant>,
    /// Engine name, e.g. "MyEicarEngine".
    #[arg(long)]
    name: Option<String>,
    /// Engine name slug (default: the name, lowercase, letters and digits only).
    #[arg(long)]
    slug: Option<String>,
    /// Project slug: the directory, package and binary (default: PARTICIPANT-SLUG).
    #[arg(long)]
    project_slug: Option<String>,
    /// Author's organization.
    #[arg(long)]
    org: Option<String>,
    /// Organization slug (default: the organization, lowercase, letters and digits only).
    #[arg(long)]
    org_slug: Option<String>,
    /// Library name (default: ORGSLUG_SLUG).
    #[arg(long)]
    package_slug: Option<String>,
    /// Author's name.
    #[arg(long)]
    author: Option<String>,
    /// Author's email.
    #[arg(long)]
    email: Option<String>,
    /// What it scans.
    #[arg(long, value_enum)]
    artifacts: Option<Artifacts>,
    /// Whether the scanning happens in an external backend process (yes/no).
    #[arg(long, value_parser = clap::builder::BoolishValueParser::new())]
    has_backend: Option<bool>,
    /// How a microengine scans: `async` (awaits I/O, e.g. a daemon) or
    /// `blocking` (CPU-bound code, run on a blocking thread).
    #[arg(long, value_enum)]
    scan_mode: Option<ScanMode>,
    /// Where to create the crate's directory.
    #[arg(long, default_value = ".")]
    output_dir: PathBuf,
    /// The swarm SDK to depend on: the path of a swarm-sdk crate, a git URL
    /// of a swarm repository (`URL#REV` pins a branch, tag or commit), or a
    /// version (default: the crates/swarm-sdk of the checkout this `swarm`
    /// was built from, by absolute path).
    #[arg(
        long,
        visible_alias = "sdk-path",
        env = "SWARM_SDK",
        value_name = "PATH|GIT-URL|VERSION"
    )]
    sdk: Option<String>,
    /// The build directory the crate shares with every other crate made by
    /// `swarm new`, named in its `.cargo/config.toml` (default: swarm/target
    /// in the user's cache directory, $XDG_CACHE_HOME or ~/.cache).
    #[arg(long, env = "SWARM_NEW_TARGET_DIR", value_name = "DIR")]
    target_dir: Option<PathBuf>,
    /// Build in the crate's own ./target instead of the shared directory.
    #[arg(long, conflicts_with = "target_dir")]
    own_target_dir: bool,
    /// Never prompt: flags or defaults answer every question.
    #[arg(long)]
    no_input: bool,
}

/// The participant types a crate can be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Participant {
    /// Scans artifacts and asserts verdicts with NCT at stake.
    Microengine,
    /// Votes the ground truth.
    Arbiter,
    /// Posts bounties.
    Ambassador,
}

impl Participant {
    const ALL: [Participant; 3] = [
        Participant::Microengine,
        Participant::Arbiter,
        Participant::Ambassador,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Participant::Microengine => "microengine",
            Participant::Arbiter => "arbiter",
            Participant::Ambassador => "ambassador",
        }
    }
}

/// The artifact kinds a participant handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Artifacts {
    /// Files only.
    Files,
    /// URLs only.
    Urls,
    /// Files and URLs.
    Both,
}

impl Artifacts {
    const ALL: [Artifacts; 3] = [Artifacts::Files, Artifacts::Urls, Artifacts::Both];

    fn label(self) -> &'static str {
        match self {
            Artifacts::Files => "files",
            Artifacts::Urls => "URLs",
            Artifacts::Both => "files and URLs",
        }
    }
}

/// How a microengine's scan runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ScanMode {
    /// An async function: for scanners that wait on I/O.
    Async,
    /// A plain function on a blocking thread: for CPU-bound scanners.
    Blocking,
}

impl ScanMode {
    const ALL: [ScanMode; 2] = [ScanMode::Async, ScanMode::Blocking];

    fn as_str(self) -> &'static str {
        match self {
            ScanMode::Async => "async",
            ScanMode::Blocking => "blocking",
        }
    }
}

/// Every answer, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Answers {
    participant: Participant,
    name: String,
    slug: String,
    project_slug: String,
    org: String,
    org_slug: String,
    package_slug: String,
    author: String,
    email: String,
    artifacts: Artifacts,
    has_backend: bool,
    scan_mode: ScanMode,
}

pub(crate) fn run(args: NewArgs) -> anyhow::Result<()> {
    let interactive = !args.no_input && std::io::stdin().is_terminal();
    let answers = if interactive {
        ask(&args)?
    } else {
        from_flags(&args)?
    };
    let sdk = SdkSource::parse(args.sdk.as_deref())?;
    let target_dir = shared_target_dir(args.target_dir.as_deref(), args.own_target_dir, |v| {
        std::env::var(v).ok()
    })?;
    let dir = create(&answers, &args.output_dir, &sdk, target_dir.as_deref())?;
    let shown = dir.display();
    let binary = target_dir
        .clone()
        .unwrap_or_else(|| dir.join("target"))
        .join("debug")
        .join(&answers.project_slug);
    println!("created {shown}");
    if let Some(t) = &target_dir {
        println!(
            "builds in {} (shared by every crate swarm new makes)",
            t.display()
        );
    }
    println!();
    println!("next:");
    println!("  cd {shown}");
    println!("  grep -rn CUSTOMIZE_HERE .    # where to act");
    println!("  cargo test");
    println!("  cargo build && swarm dev --engine {}", binary.display());
    Ok(())
}

/// Writes the crate under `output_dir`; returns its directory.
fn create(
    answers: &Answers,
    output_dir: &Path,
    sdk: &SdkSource,
    target_dir: Option<&Path>,
) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(output_dir)
        .with_context(|| format!("cannot create {}", output_dir.display()))?;
    let output_dir = output_dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", output_dir.display()))?;
    let dir = output_dir.join(&answers.project_slug);
    if dir.exists() {
        bail!(
            "{} already exists: remove it or choose another --project-slug",
            dir.display()
        );
    }
    let rendered = render(answers, &dir, sdk, target_dir)?;
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{}-", answers.project_slug))
        .tempdir_in(&output_dir)
        .with_context(|| format!("cannot write in {}", output_dir.display()))?;
    for (path, text) in &rendered {
        let file = staging.path().join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&file, text).with_context(|| format!("cannot write {}", file.display()))?;
    }
    // The lock file of the SDK's checkout (or, for a git or published SDK,
    // of the checkout this binary comes from), so the crate builds with the
    // dependency versions swarm-sdk is tested with, and every generated
    // crate with the same ones: what lets them share one build directory.
    let own_checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let lock = sdk.checkout().unwrap_or(&own_checkout).join("Cargo.lock");
    if let Ok(text) = std::fs::read_to_string(&lock) {
        std::fs::write(staging.path().join("Cargo.lock"), text)
            .context("cannot write Cargo.lock")?;
    }
    format_sources(staging.path(), &rendered);
    let staged = staging.keep();
    if let Err(e) = std::fs::rename(&staged, &dir) {
        let _ = std::fs::remove_dir_all(&staged);
        return Err(e).with_context(|| format!("cannot create {}", dir.display()));
    }
    Ok(dir)
}
