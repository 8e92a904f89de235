//! Where a generated crate finds swarm-sdk, and where it builds.
//!
//! An engine lives in its own repository, not in the swarm checkout, so
//! `--sdk` takes a path, a git URL or a version, and a path is written
//! absolute: the crate can be made anywhere and moved anywhere on the same
//! machine. Every generated crate builds in one shared target directory (a
//! per-user cache, named in the crate's `.cargo/config.toml`), because the
//! SDK's dependencies are most of what an engine compiles: compiled once,
//! they serve the next engine too.

use super::*;

/// Where the crate's swarm-sdk dependency comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum SdkSource {
    /// A swarm-sdk crate on this machine (absolute, resolved).
    Path(PathBuf),
    /// A swarm repository, with a branch, tag or commit after `#`.
    Git {
        /// The repository.
        url: String,
        /// What to check out, when given.
        rev: Option<String>,
    },
    /// A published version requirement.
    Version(String),
}

impl SdkSource {
    /// Reads `--sdk`: an existing directory is a path; `http(s)://`,
    /// `ssh://`, `git://`, `file://` or `git@…` a git repository (`URL#REV`
    /// pins a branch, tag or commit); a version requirement such as `0.1`
    /// or `^0.1.0` a published version; anything else a path that must
    /// exist. Nothing given: the SDK of the checkout this binary was built
    /// from.
    pub(super) fn parse(given: Option<&str>) -> anyhow::Result<SdkSource> {
        let Some(given) = given.map(str::trim) else {
            return sdk_path(None).map(SdkSource::Path);
        };
        if given.is_empty() {
            bail!("--sdk is empty: give a path, a git URL or a version");
        }
        if Path::new(given).is_dir() {
            return sdk_path(Some(Path::new(given))).map(SdkSource::Path);
        }
        let git = ["http://", "https://", "ssh://", "git://", "file://", "git@"]
            .iter()
            .any(|p| given.starts_with(p));
        if git {
            let (url, rev) = match given.split_once('#') {
                Some((url, rev)) => (url, Some(rev)),
                None => (given, None),
            };
            if let Some(c) = given.chars().find(|c| c.is_whitespace() || *c == '"') {
                bail!("the git URL {given:?} contains {c:?}");
            }
            if rev == Some("") {
                bail!("the git URL {given:?} ends with '#': name a branch, tag or commit after it");
            }
            return Ok(SdkSource::Git {
                url: url.to_owned(),
                rev: rev.map(str::to_owned),
            });
        }
        if is_version_requirement(given) {
            return Ok(SdkSource::Version(given.to_owned()));
        }
        sdk_path(Some(Path::new(given))).map(SdkSource::Path)
    }

    /// The dependency's source, as TOML inline-table entries:
    /// `path = "…"`, `git = "…", rev = "…"` or `version = "…"`.
    pub(super) fn toml(&self) -> String {
        match self {
            SdkSource::Path(p) => format!("path = {}", toml_string(&p.display().to_string())),
            SdkSource::Git { url, rev: None } => format!("git = {}", toml_string(url)),
            SdkSource::Git {
                url,
                rev: Some(rev),
            } => format!("git = {}, rev = {}", toml_string(url), toml_string(rev)),
            SdkSource::Version(v) => format!("version = {}", toml_string(v)),
        }
    }

    /// What the dependency is, for the comment above it.
    pub(super) fn describe(&self) -> &'static str {
        match self {
            SdkSource::Path(_) => "the swarm checkout at this path",
            SdkSource::Git { .. } => "a swarm repository",
            SdkSource::Version(_) => "the published crate",
        }
    }

    /// The checkout holding the SDK, when it is a path (its Cargo.lock pins
    /// the versions the SDK is tested with; a Docker build copies it).
    pub(super) fn checkout(&self) -> Option<&Path> {
        match self {
            SdkSource::Path(p) => p.parent().and_then(Path::parent),
            _ => None,
        }
    }
}

/// `0.1`, `0.1.0`, `^0.1`, `~0.1.2`, `=0.1.0`, `>=0.1, <0.3`: digits and
/// dots after an optional operator, in one or more comma-separated parts.
fn is_version_requirement(s: &str) -> bool {
    s.split(',').all(|part| {
        let part = part.trim();
        let bare = part.trim_start_matches(['^', '~', '=', '>', '<']).trim();
        !bare.is_empty()
            && bare.starts_with(|c: char| c.is_ascii_digit())
            && bare
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '*'))
    })
}

/// A TOML basic string holding `s`, quoted and escaped.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The swarm-sdk crate at `given`, or the one of the checkout this binary
/// was built from; checked and resolved to an absolute path.
pub(super) fn sdk_path(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let path = match given {
        Some(p) => p.to_path_buf(),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../swarm-sdk"),
    };
    let manifest = std::fs::read_to_string(path.join("Cargo.toml")).map_err(|_| {
        anyhow!(
            "no swarm-sdk crate at {}: pass --sdk (or SWARM_SDK) with the path of \
             crates/swarm-sdk in a swarm checkout, a git URL of a swarm repository, or a version",
            path.display()
        )
    })?;
    if !manifest.contains("name = \"swarm-sdk\"") {
        bail!("{} is not the swarm-sdk crate", path.display());
    }
    path.canonicalize()
        .with_context(|| format!("cannot resolve {}", path.display()))
}

/// The build directory every generated crate shares: `--target-dir`, or
/// `swarm/target` in the user's cache directory (`$XDG_CACHE_HOME`, else
/// `~/.cache`); `None` with `--own-target-dir`, or when there is no home
/// to find a cache in.
pub(super) fn shared_target_dir(
    given: Option<&Path>,
    own: bool,
    var: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<Option<PathBuf>> {
    if own {
        return Ok(None);
    }
    let dir = match given {
        Some(d) => d.to_path_buf(),
        None => {
            let cache = var("XDG_CACHE_HOME")
                .filter(|d| Path::new(d).is_absolute())
                .map(PathBuf::from)
                .or_else(|| {
                    var("HOME")
                        .filter(|h| Path::new(h).is_absolute())
                        .map(|h| Path::new(&h).join(".cache"))
                });
            match cache {
                Some(c) => c.join("swarm").join("target"),
                None => return Ok(None),
            }
        }
    };
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the build directory {}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", dir.display()))?;
    Ok(Some(dir))
}

/// The crate's `.cargo/config.toml`, pointing cargo at the shared build
/// directory.
pub(super) fn cargo_config(target_dir: &Path) -> String {
    format!(
        "# Every crate made by `swarm new` builds here, so that the swarm SDK and\n\
         # its dependencies compile once for all of them. Cargo reads this file\n\
         # when it runs in this directory (`cargo test`, `cargo build`); delete it\n\
         # to build in ./target.\n\
         [build]\n\
         target-dir = {}\n",
        toml_string(&target_dir.display().to_string())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_sources_are_told_apart() {
        let checkout = SdkSource::parse(None).unwrap();
        let SdkSource::Path(p) = &checkout else {
            panic!("{checkout:?}")
        };
        assert!(p.is_absolute() && p.ends_with("crates/swarm-sdk"), "{p:?}");
        assert_eq!(
            SdkSource::parse(Some(p.to_str().unwrap())).unwrap(),
            checkout
        );
        assert_eq!(
            SdkSource::parse(Some("https://git.example/swarm.git#v0.1.0")).unwrap(),
            SdkSource::Git {
                url: "https://git.example/swarm.git".into(),
                rev: Some("v0.1.0".into())
            }
        );
        assert_eq!(
            SdkSource::parse(Some("git@git.example:swarm.git")).unwrap(),
            SdkSource::Git {
                url: "git@git.example:swarm.git".into(),
                rev: None
            }
        );
        for v in ["0.1", "0.1.0", "^0.1", "=0.1.0", ">=0.1, <0.3"] {
            assert_eq!(
                SdkSource::parse(Some(v)).unwrap(),
                SdkSource::Version(v.into())
            );
        }
        let e = SdkSource::parse(Some("/nowhere/swarm-sdk"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no swarm-sdk crate at /nowhere/swarm-sdk"),
            "{e}"
        );
        assert!(e.contains("a git URL") && e.contains("a version"), "{e}");
        let e = SdkSource::parse(Some("https://x.example/a b"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("contains ' '"), "{e}");
        let e = SdkSource::parse(Some("https://x.example/s.git#"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("name a branch, tag or commit"), "{e}");
    }

    #[test]
    fn dependency_sources_are_valid_toml() {
        let sources = [
            SdkSource::Path(PathBuf::from("/home/a \"b\"\\c/swarm-sdk")),
            SdkSource::Git {
                url: "https://git.example/swarm.git".into(),
                rev: Some("main".into()),
            },
            SdkSource::Version("0.1".into()),
        ];
        for source in sources {
            let doc = format!("[dependencies]\nswarm-sdk = {{ {} }}\n", source.toml());
            let parsed: toml::Table = toml::from_str(&doc).unwrap();
            let dep = &parsed["dependencies"]["swarm-sdk"];
            match &source {
                SdkSource::Path(p) => assert_eq!(dep["path"].as_str(), p.to_str()),
                SdkSource::Git { url, rev } => {
                    assert_eq!(dep["git"].as_str(), Some(url.as_str()));
                    assert_eq!(dep["rev"].as_str(), rev.as_deref());
                }
                SdkSource::Version(v) => assert_eq!(dep["version"].as_str(), Some(v.as_str())),
            }
        }
    }

    #[test]
    fn the_shared_build_directory_is_in_the_users_cache() {
        let home = tempfile::tempdir().unwrap();
        let home_str = home.path().to_str().unwrap().to_owned();
        let from_home = shared_target_dir(None, false, |v| (v == "HOME").then(|| home_str.clone()))
            .unwrap()
            .unwrap();
        assert_eq!(
            from_home,
            home.path()
                .canonicalize()
                .unwrap()
                .join(".cache/swarm/target")
        );
        let xdg = home.path().join("xdg");
        let xdg_str = xdg.to_str().unwrap().to_owned();
        let from_xdg = shared_target_dir(None, false, |v| match v {
            "XDG_CACHE_HOME" => Some(xdg_str.clone()),
            "HOME" => Some(home_str.clone()),
            _ => None,
        })
        .unwrap()
        .unwrap();
        assert!(from_xdg.ends_with("xdg/swarm/target"), "{from_xdg:?}");
        assert_eq!(shared_target_dir(None, true, |_| None).unwrap(), None);
        assert_eq!(shared_target_dir(None, false, |_| None).unwrap(), None);
        let config = cargo_config(&from_xdg);
        let parsed: toml::Table = toml::from_str(&config).unwrap();
        assert_eq!(parsed["build"]["target-dir"].as_str(), from_xdg.to_str());
    }
}
