//! The crate's files: the templates, rendered with the answers, the SDK's
//! source and the shared build directory.

use super::*;

/// `to` relative to the directory `from` (both absolute and resolved).
pub(super) fn relative(from: &Path, to: &Path) -> PathBuf {
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
pub(super) fn files(participant: Participant) -> [(&'static str, &'static str); 8] {
    let lib = match participant {
        Participant::Microengine => include_str!("../../../templates/engine/src/microengine.rs.j2"),
        Participant::Arbiter => include_str!("../../../templates/engine/src/arbiter.rs.j2"),
        Participant::Ambassador => include_str!("../../../templates/engine/src/ambassador.rs.j2"),
    };
    [
        (
            "Cargo.toml",
            include_str!("../../../templates/engine/Cargo.toml.j2"),
        ),
        (
            "README.md",
            include_str!("../../../templates/engine/README.md.j2"),
        ),
        (
            "Dockerfile",
            include_str!("../../../templates/engine/Dockerfile.j2"),
        ),
        (
            "Dockerfile.dockerignore",
            include_str!("../../../templates/engine/Dockerfile.dockerignore.j2"),
        ),
        (
            ".gitignore",
            include_str!("../../../templates/engine/gitignore.j2"),
        ),
        ("src/lib.rs", lib),
        (
            "src/main.rs",
            include_str!("../../../templates/engine/src/main.rs.j2"),
        ),
        (
            "tests/participant.rs",
            include_str!("../../../templates/engine/tests/participant.rs.j2"),
        ),
    ]
}

/// The crate's files, rendered, for a crate at `crate_dir` (absolute)
/// depending on the SDK from `sdk`, building in `target_dir` when given
/// (else in its own `target`).
pub(super) fn render(
    answers: &Answers,
    crate_dir: &Path,
    sdk: &SdkSource,
    target_dir: Option<&Path>,
) -> anyhow::Result<Vec<(&'static str, String)>> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    // The Docker build context: the directory holding both the crate and
    // the SDK's checkout when the SDK is a path (the image holds it at the
    // same absolute path), else the crate alone.
    let mut docker_context = crate_dir.to_path_buf();
    if let Some(checkout) = sdk.checkout() {
        while !checkout.starts_with(&docker_context) {
            match docker_context.parent() {
                Some(p) => docker_context = p.to_path_buf(),
                None => break,
            }
        }
    }
    let crate_in_context = relative(&docker_context, crate_dir);
    let binary = target_dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| crate_dir.join("target"))
        .join("debug")
        .join(&answers.project_slug);
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
        sdk_source => sdk.toml(),
        sdk_comment => sdk.describe(),
        sdk_is_path => matches!(sdk, SdkSource::Path(_)),
        crate_dir => crate_dir.display().to_string(),
        binary => binary.display().to_string(),
        target_dir => target_dir.map(|d| d.display().to_string()).unwrap_or_default(),
        dockerfile => crate_in_context.join("Dockerfile").display().to_string(),
        docker_context => docker_context.display().to_string(),
    };
    let mut rendered = files(answers.participant)
        .into_iter()
        .map(|(path, template)| {
            let text = env
                .render_str(template, &ctx)
                .map_err(|e| anyhow!("cannot render {path}: {e:#}"))?;
            Ok((path, text))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if let Some(dir) = target_dir {
        rendered.push((".cargo/config.toml", cargo_config(dir)));
    }
    Ok(rendered)
}

/// Lays out the generated Rust code as `cargo fmt` would, when rustfmt is
/// installed (it comes with every rustup toolchain); without it the code
/// is just as valid, only laid out by the template.
pub(super) fn format_sources(dir: &Path, rendered: &[(&'static str, String)]) {
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
