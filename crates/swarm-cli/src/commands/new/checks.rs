//! What an answer may be: names, slugs, e-mail addresses, and the Rust
//! names derived from them (a slug that is a keyword or a crate the
//! generated code uses is refused).

use super::*;

pub(super) const MAX_LEN: usize = 64;

/// Free text that ends up in TOML strings and Rust comments: one line,
/// no quotes or backslashes.
pub(super) fn check_text(what: &str, value: &str) -> anyhow::Result<String> {
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
pub(super) fn check_name(value: &str) -> anyhow::Result<String> {
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
pub(super) fn check_slug(what: &str, value: &str) -> anyhow::Result<String> {
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
pub(super) fn check_project_slug(value: &str) -> anyhow::Result<String> {
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
pub(super) const RESERVED: &[&str] = &[
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
pub(super) fn check_package_slug(value: &str) -> anyhow::Result<String> {
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
pub(super) fn check_email(value: &str) -> anyhow::Result<String> {
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
pub(super) fn slugify(value: &str) -> String {
    value
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Names the generated code already uses.
pub(super) const TAKEN_TYPES: &[&str] = &[
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
pub(super) fn struct_name(name: &str) -> String {
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
