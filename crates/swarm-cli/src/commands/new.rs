//! `swarm new`: scaffold a participant crate, as PolySwarm's cookiecutter
//! engine template did.
//!
//! The same questions in the same order (participant type, name, slugs,
//! organization, author, what it scans, whether it has an external backend,
//! how it scans), each answerable by a flag so that scripts and tests never
//! meet a prompt. The crate depends on this checkout's `swarm-sdk` by path,
//! marks every place the author must act with `CUSTOMIZE_HERE`, and comes
//! with a README of next steps, a first test and a Dockerfile.
//!
//! The crate is rendered into a hidden directory beside its destination and
//! renamed into place only when every file is written: an error never
//! leaves half a crate behind.

use std::io::IsTerminal;
use std::path::{Component, Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use clap::{Args, ValueEnum};
use minijinja::{context, Environment, UndefinedBehavior};

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
    /// The swarm-sdk crate to depend on (default: this checkout's).
    #[arg(long, env = "SWARM_SDK_PATH")]
    sdk_path: Option<PathBuf>,
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
    let sdk = sdk_path(args.sdk_path.as_deref())?;
    let dir = create(&answers, &args.output_dir, &sdk)?;
    let shown = dir.display();
    println!("created {shown}");
    println!();
    println!("next:");
    println!("  grep -rn CUSTOMIZE_HERE {shown}    # where to act");
    println!("  cargo test --manifest-path {shown}/Cargo.toml");
    println!(
        "  cargo build --manifest-path {shown}/Cargo.toml && swarm dev --engine {shown}/target/debug/{}",
        answers.project_slug
    );
    Ok(())
}

/// The answers from flags and defaults alone.
fn from_flags(args: &NewArgs) -> anyhow::Result<Answers> {
    let participant = args.participant.unwrap_or(Participant::Microengine);
    let name = check_name(args.name.as_deref().unwrap_or("MyEngine"))?;
    let slug = match &args.slug {
        Some(s) => check_slug("--slug", s)?,
        None => check_slug("the engine name's slug", &slugify(&name))?,
    };
    let project_slug = match &args.project_slug {
        Some(s) => check_project_slug(s)?,
        None => check_project_slug(&format!("{}-{slug}", participant.as_str()))?,
    };
    let org = check_text("organization", args.org.as_deref().unwrap_or("ACME"))?;
    let org_slug = match &args.org_slug {
        Some(s) => check_slug("--org-slug", s)?,
        None => check_slug("the organization's slug", &slugify(&org))?,
    };
    let package_slug = match &args.package_slug {
        Some(s) => check_package_slug(s)?,
        None => check_package_slug(&format!("{org_slug}_{slug}"))?,
    };
    let author = check_text(
        "author name",
        args.author.as_deref().unwrap_or("Swarm Developer"),
    )?;
    let email = check_email(args.email.as_deref().unwrap_or("developer@example.com"))?;
    Ok(Answers {
        participant,
        name,
        slug,
        project_slug,
        org,
        org_slug,
        package_slug,
        author,
        email,
        artifacts: args.artifacts.unwrap_or(Artifacts::Files),
        has_backend: args.has_backend.unwrap_or(false),
        scan_mode: args.scan_mode.unwrap_or(ScanMode::Async),
    })
}

/// The answers from prompts, for every question no flag answered; each
/// prompt's default is the template's.
fn ask(args: &NewArgs) -> anyhow::Result<Answers> {
    use dialoguer::{Confirm, Input, Select};

    let participant = match args.participant {
        Some(p) => p,
        None => {
            let labels: Vec<&str> = Participant::ALL.iter().map(|p| p.as_str()).collect();
            let i = Select::new()
                .with_prompt("participant_type")
                .items(&labels)
                .default(0)
                .interact()?;
            Participant::ALL[i]
        }
    };
    let text = |prompt: &str,
                given: &Option<String>,
                default: String,
                check: &dyn Fn(&str) -> anyhow::Result<String>|
     -> anyhow::Result<String> {
        if let Some(value) = given {
            return check(value);
        }
        let value: String = Input::new()
            .with_prompt(prompt)
            .default(default)
            .validate_with(|v: &String| check(v).map(drop).map_err(|e| e.to_string()))
            .interact_text()?;
        check(&value)
    };
    let name = text(
        "engine_name",
        &args.name,
        "MyEngine".to_owned(),
        &check_name,
    )?;
    let slug = text("engine_name_slug", &args.slug, slugify(&name), &|s| {
        check_slug("the slug", s)
    })?;
    let project_slug = text(
        "project_slug",
        &args.project_slug,
        format!("{}-{slug}", participant.as_str()),
        &check_project_slug,
    )?;
    let org = text("author_org", &args.org, "ACME".to_owned(), &|s| {
        check_text("organization", s)
    })?;
    let org_slug = text("author_org_slug", &args.org_slug, slugify(&org), &|s| {
        check_slug("the organization's slug", s)
    })?;
    let package_slug = text(
        "package_slug",
        &args.package_slug,
        format!("{org_slug}_{slug}"),
        &check_package_slug,
    )?;
    let author = text(
        "author_name",
        &args.author,
        "Swarm Developer".to_owned(),
        &|s| check_text("author name", s),
    )?;
    let email = text(
        "author_email",
        &args.email,
        "developer@example.com".to_owned(),
        &check_email,
    )?;
    let artifacts = match args.artifacts {
        Some(a) => a,
        None => {
            let labels: Vec<&str> = Artifacts::ALL.iter().map(|a| a.label()).collect();
            let i = Select::new()
                .with_prompt("supports (artifact types)")
                .items(&labels)
                .default(0)
                .interact()?;
            Artifacts::ALL[i]
        }
    };
    let has_backend = match args.has_backend {
        Some(b) => b,
        None => Confirm::new()
            .with_prompt("has_backend (does the scanning run in a separate process or service?)")
            .default(false)
            .interact()?,
    };
    let scan_mode = match (args.scan_mode, participant) {
        (Some(m), _) => m,
        (None, Participant::Microengine) => {
            let labels: Vec<&str> = ScanMode::ALL.iter().map(|m| m.as_str()).collect();
            let i = Select::new()
                .with_prompt("scan_mode (async: waits on I/O; blocking: CPU-bound)")
                .items(&labels)
                .default(0)
                .interact()?;
            ScanMode::ALL[i]
        }
        (None, _) => ScanMode::Async,
    };
    Ok(Answers {
        participant,
        name,
        slug,
        project_slug,
        org,
        org_slug,
        package_slug,
        author,
        email,
        artifacts,
        has_backend,
        scan_mode,
    })
}

const MAX_LEN: usize = 64;

/// Free text that ends up in TOML strings and Rust comments: one line,
/// no quotes or backslashes.
fn check_text(what: &str, value: &str) -> anyhow::Result<String> {
    let value = value.trim();
    if value.is_empty() {
        bail!("the {what} is empty");
    }
    if value.chars().count() > MAX_LEN {
        bail!("the {what} is longer than {MAX_LEN} characters");
    }
    if let Some(c) = value
        .chars()
        .find(|c| c.is_control() || matches!(c, '"' | '\\' | '`' | '{' | '}'))
    {
        bail!("the {what} {value:?} contains {c:?}, which is not allowed");
    }
    Ok(value.to_owned())
}

/// An engine name: starts with a letter; letters, digits, spaces, `-`,
/// `_` and `.` — what a crate, a type and a directory can all be made of.
fn check_name(value: &str) -> anyhow::Result<String> {
    let value = check_text("engine name", value)?;
    if !value.starts_with(|c: char| c.is_ascii_alphabetic()) {
        bail!("the engine name {value:?} must start with a letter (A-Z, a-z)");
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.')))
    {
        bail!(
            "the engine name {value:?} contains {c:?}: use letters, digits, spaces, '-', '_' and '.'"
        );
    }
    Ok(value)
}

/// A slug: a lowercase letter, then lowercase letters and digits.
fn check_slug(what: &str, value: &str) -> anyhow::Result<String> {
    let ok = value.len() <= MAX_LEN
        && value.starts_with(|c: char| c.is_ascii_lowercase())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !ok {
        bail!(
            "{what} {value:?} is not a slug: a lowercase letter, then lowercase letters and digits, \
             at most {MAX_LEN}"
        );
    }
    Ok(value.to_owned())
}

/// A Cargo package name that is also a directory name.
fn check_project_slug(value: &str) -> anyhow::Result<String> {
    let ok = value.len() <= MAX_LEN
        && value.starts_with(|c: char| c.is_ascii_lowercase())
        && !value.ends_with('-')
        && !value.contains("--")
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !ok {
        bail!(
            "the project slug {value:?} is not a package name: a lowercase letter, then lowercase \
             letters, digits and single '-', at most {MAX_LEN}"
        );
    }
    Ok(value.to_owned())
}

/// Names the generated library may not take: Rust keywords and the crates
/// it depends on.
const RESERVED: &[&str] = &[
    "as",
    "async",
    "await",
    "box",
    "break",
    "const",
    "continue",
    "crate",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "fn",
    "for",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "match",
    "mod",
    "move",
    "mut",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "try",
    "type",
    "unsafe",
    "use",
    "where",
    "while",
    "yield",
    "test",
    "std",
    "core",
    "alloc",
    "proc_macro",
    "swarm_sdk",
    "swarm_protocol",
    "tokio",
    "tracing",
    "tracing_subscriber",
];

/// A Rust library name.
fn check_package_slug(value: &str) -> anyhow::Result<String> {
    let ok = value.len() <= MAX_LEN
        && value.starts_with(|c: char| c.is_ascii_lowercase())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        bail!(
            "the package slug {value:?} is not a library name: a lowercase letter, then lowercase \
             letters, digits and '_', at most {MAX_LEN}"
        );
    }
    if RESERVED.contains(&value) {
        bail!("the package slug {value:?} is a Rust keyword or a dependency's name");
    }
    Ok(value.to_owned())
}

/// An email address: `local@domain.tld`, with nothing that needs quoting.
fn check_email(value: &str) -> anyhow::Result<String> {
    let value = check_text("email", value)?;
    let valid = value.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
    }) && !value.contains(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | ','));
    if !valid {
        bail!("{value:?} is not an email address (name@example.com)");
    }
    Ok(value)
}

/// As the cookiecutter template slugged: lowercase, without spaces, dots,
/// dashes and underscores (and, here, anything else that is not a letter
/// or a digit).
fn slugify(value: &str) -> String {
    value
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Names the generated code already uses.
const TAKEN_TYPES: &[&str] = &[
    "Ambassador",
    "Arbiter",
    "Artifact",
    "ArtifactKind",
    "BountyRequest",
    "BountySource",
    "Connection",
    "ExitCode",
    "GroundTruth",
    "Microengine",
    "ScanError",
    "ScanResult",
    "Scanner",
    "Verdict",
];

/// The type name of an engine name: its words, capitalized and joined.
fn struct_name(name: &str) -> String {
    let joined: String = name
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect();
    if TAKEN_TYPES.contains(&joined.as_str()) {
        format!("{joined}Engine")
    } else {
        joined
    }
}

/// The swarm-sdk crate to depend on: `--sdk-path`, or the one of the
/// checkout this binary was built from.
fn sdk_path(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let path = match given {
        Some(p) => p.to_path_buf(),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../swarm-sdk"),
    };
    let manifest = std::fs::read_to_string(path.join("Cargo.toml")).map_err(|_| {
        anyhow!(
            "no swarm-sdk crate at {}: pass --sdk-path (or SWARM_SDK_PATH) with the path of \
             crates/swarm-sdk in a swarm checkout",
            path.display()
        )
    })?;
    if !manifest.contains("name = \"swarm-sdk\"") {
        bail!("{} is not the swarm-sdk crate", path.display());
    }
    path.canonicalize()
        .with_context(|| format!("cannot resolve {}", path.display()))
}

/// `to` relative to the directory `from` (both absolute and resolved).
fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component<'_>> = from.components().collect();
    let to: Vec<Component<'_>> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut path = PathBuf::new();
    for _ in common..from.len() {
        path.push("..");
    }
    for c in &to[common..] {
        path.push(c.as_os_str());
    }
    path
}

/// The files of a crate, as (path in the crate, template).
fn files(participant: Participant) -> [(&'static str, &'static str); 8] {
    let lib = match participant {
        Participant::Microengine => include_str!("../../templates/engine/src/microengine.rs.j2"),
        Participant::Arbiter => include_str!("../../templates/engine/src/arbiter.rs.j2"),
        Participant::Ambassador => include_str!("../../templates/engine/src/ambassador.rs.j2"),
    };
    [
        (
            "Cargo.toml",
            include_str!("../../templates/engine/Cargo.toml.j2"),
        ),
        (
            "README.md",
            include_str!("../../templates/engine/README.md.j2"),
        ),
        (
            "Dockerfile",
            include_str!("../../templates/engine/Dockerfile.j2"),
        ),
        (
            "Dockerfile.dockerignore",
            include_str!("../../templates/engine/Dockerfile.dockerignore.j2"),
        ),
        (
            ".gitignore",
            include_str!("../../templates/engine/gitignore.j2"),
        ),
        ("src/lib.rs", lib),
        (
            "src/main.rs",
            include_str!("../../templates/engine/src/main.rs.j2"),
        ),
        (
            "tests/participant.rs",
            include_str!("../../templates/engine/tests/participant.rs.j2"),
        ),
    ]
}

/// The crate's files, rendered, for a crate at `crate_dir` depending on
/// the SDK at `sdk` (both absolute).
fn render(
    answers: &Answers,
    crate_dir: &Path,
    sdk: &Path,
) -> anyhow::Result<Vec<(&'static str, String)>> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    // The Docker build context: the directory holding both the crate and
    // the SDK's checkout.
    let checkout = sdk
        .parent()
        .and_then(Path::parent)
        .unwrap_or(sdk)
        .to_path_buf();
    let mut docker_context = crate_dir.to_path_buf();
    while !checkout.starts_with(&docker_context) {
        match docker_context.parent() {
            Some(p) => docker_context = p.to_path_buf(),
            None => break,
        }
    }
    let crate_in_context = relative(&docker_context, crate_dir);
    let ctx = context! {
        participant => answers.participant.as_str(),
        engine_name => &answers.name,
        struct_name => struct_name(&answers.name),
        project_slug => &answers.project_slug,
        package_slug => &answers.package_slug,
        author_org => &answers.org,
        author_name => &answers.author,
        author_email => &answers.email,
        files => answers.artifacts != Artifacts::Urls,
        urls => answers.artifacts != Artifacts::Files,
        has_backend => answers.has_backend,
        backend_env => format!("{}_BACKEND", answers.slug.to_ascii_uppercase()),
        backend_default => "127.0.0.1:9000",
        scan_mode => answers.scan_mode.as_str(),
        sdk_path => relative(crate_dir, sdk).display().to_string(),
        crate_dir => crate_dir.display().to_string(),
        crate_in_context => crate_in_context.display().to_string(),
        docker_context => docker_context.display().to_string(),
    };
    files(answers.participant)
        .into_iter()
        .map(|(path, template)| {
            let text = env
                .render_str(template, &ctx)
                .map_err(|e| anyhow!("cannot render {path}: {e:#}"))?;
            Ok((path, text))
        })
        .collect()
}

/// Writes the crate under `output_dir`; returns its directory.
fn create(answers: &Answers, output_dir: &Path, sdk: &Path) -> anyhow::Result<PathBuf> {
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
    let rendered = render(answers, &dir, sdk)?;
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
    // The checkout's lock file, so the crate builds with the dependency
    // versions swarm-sdk is tested with.
    if let Some(lock) = sdk
        .parent()
        .and_then(Path::parent)
        .map(|c| c.join("Cargo.lock"))
    {
        if let Ok(text) = std::fs::read_to_string(&lock) {
            std::fs::write(staging.path().join("Cargo.lock"), text)
                .context("cannot write Cargo.lock")?;
        }
    }
    format_sources(staging.path(), &rendered);
    let staged = staging.keep();
    if let Err(e) = std::fs::rename(&staged, &dir) {
        let _ = std::fs::remove_dir_all(&staged);
        return Err(e).with_context(|| format!("cannot create {}", dir.display()));
    }
    Ok(dir)
}

/// Lays out the generated Rust code as `cargo fmt` would, when rustfmt is
/// installed (it comes with every rustup toolchain); without it the code
/// is just as valid, only laid out by the template.
fn format_sources(dir: &Path, rendered: &[(&'static str, String)]) {
    let sources: Vec<PathBuf> = rendered
        .iter()
        .filter(|(path, _)| path.ends_with(".rs"))
        .map(|(path, _)| dir.join(path))
        .collect();
    let formatted = std::process::Command::new("rustfmt")
        .args(["--edition", "2021"])
        .args(&sources)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    if !formatted.is_ok_and(|s| s.success()) {
        tracing::debug!("rustfmt is not available; the generated code is left as rendered");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(participant: Participant) -> Answers {
        let args = NewArgs {
            participant: Some(participant),
            name: Some("My Eicar Engine".into()),
            org: Some("ACME Corp.".into()),
            ..NewArgs::default()
        };
        from_flags(&args).unwrap()
    }

    #[test]
    fn defaults_follow_the_cookiecutter_template() {
        let a = answers(Participant::Microengine);
        assert_eq!(a.slug, "myeicarengine");
        assert_eq!(a.project_slug, "microengine-myeicarengine");
        assert_eq!(a.org_slug, "acmecorp");
        assert_eq!(a.package_slug, "acmecorp_myeicarengine");
        assert_eq!(struct_name(&a.name), "MyEicarEngine");
        assert_eq!(struct_name("scanner"), "ScannerEngine");
        assert_eq!(struct_name("clam.av-2"), "ClamAv2");
        assert_eq!(
            answers(Participant::Arbiter).project_slug,
            "arbiter-myeicarengine"
        );
    }

    #[test]
    fn bad_names_are_refused_with_the_reason() {
        let cases: [(NewArgs, &str); 9] = [
            (
                NewArgs {
                    name: Some("".into()),
                    ..NewArgs::default()
                },
                "empty",
            ),
            (
                NewArgs {
                    name: Some("9lives".into()),
                    ..NewArgs::default()
                },
                "must start with a letter",
            ),
            (
                NewArgs {
                    name: Some("../evil".into()),
                    ..NewArgs::default()
                },
                "must start with a letter",
            ),
            (
                NewArgs {
                    name: Some("my/engine".into()),
                    ..NewArgs::default()
                },
                "contains '/'",
            ),
            (
                NewArgs {
                    name: Some("x".repeat(65)),
                    ..NewArgs::default()
                },
                "longer than 64",
            ),
            (
                NewArgs {
                    slug: Some("My-Slug".into()),
                    ..NewArgs::default()
                },
                "is not a slug",
            ),
            (
                NewArgs {
                    project_slug: Some("bad_slug".into()),
                    ..NewArgs::default()
                },
                "not a package name",
            ),
            (
                NewArgs {
                    package_slug: Some("tokio".into()),
                    ..NewArgs::default()
                },
                "dependency's name",
            ),
            (
                NewArgs {
                    email: Some("not-an-email".into()),
                    ..NewArgs::default()
                },
                "not an email address",
            ),
        ];
        for (args, reason) in cases {
            let e = from_flags(&args).unwrap_err().to_string();
            assert!(e.contains(reason), "{args:?}: {e}");
        }
        let e = from_flags(&NewArgs {
            author: Some("Robert \"Bobby\" Tables".into()),
            ..NewArgs::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("'\"'"), "{e}");
    }

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative(Path::new("/a/b/c"), Path::new("/a/d/e")),
            PathBuf::from("../../d/e")
        );
        assert_eq!(
            relative(Path::new("/a"), Path::new("/a/x")),
            PathBuf::from("x")
        );
    }

    #[test]
    fn every_combination_renders() {
        let sdk = Path::new("/src/swarm/crates/swarm-sdk");
        let dir = Path::new("/src/swarm/engines/microengine-x");
        for participant in Participant::ALL {
            for artifacts in Artifacts::ALL {
                for has_backend in [false, true] {
                    for scan_mode in ScanMode::ALL {
                        let a = Answers {
                            artifacts,
                            has_backend,
                            scan_mode,
                            ..answers(participant)
                        };
                        let files = render(&a, dir, sdk).unwrap();
                        let text = |name: &str| &files.iter().find(|(p, _)| *p == name).unwrap().1;
                        assert!(text("src/lib.rs").contains("CUSTOMIZE_HERE"), "{a:?}");
                        assert!(text("Cargo.toml")
                            .contains("swarm-sdk = { path = \"../../crates/swarm-sdk\" }"));
                        let build = format!(
                            "docker build -f engines/microengine-x/Dockerfile -t {} /src/swarm",
                            a.project_slug
                        );
                        assert!(text("Dockerfile").contains(&build), "{a:?}");
                        assert_eq!(
                            text("src/main.rs").contains("MYEICARENGINE_BACKEND"),
                            has_backend
                        );
                        for (path, t) in &files {
                            assert!(!t.contains("{{") && !t.contains("{%"), "{path}: {t}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn an_existing_directory_is_never_overwritten() {
        let out = tempfile::tempdir().unwrap();
        let sdk = sdk_path(None).unwrap();
        let a = answers(Participant::Microengine);
        let dir = create(&a, out.path(), &sdk).unwrap();
        assert!(dir.join("src/lib.rs").is_file());
        std::fs::write(dir.join("src/lib.rs"), "mine").unwrap();
        let e = create(&a, out.path(), &sdk).unwrap_err().to_string();
        assert!(e.contains("already exists"), "{e}");
        assert_eq!(
            std::fs::read_to_string(dir.join("src/lib.rs")).unwrap(),
            "mine"
        );
        // Nothing but the crate: no staging directory left behind.
        assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 1);
    }
}
