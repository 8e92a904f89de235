//! The `yara` engine: YARA rules from a directory, run with yara-x.
//!
//! yara-x is VirusTotal's YARA in Rust: no C library to install, and
//! compiled rules that are `Send + Sync`, so one compiled set serves every
//! scan at once. [`YaraRules::load_dir`] compiles every `*.yar` and `*.yara`
//! file of a directory (and its subdirectories, in name order) once, at
//! start-up; a file that does not compile stops the start with every error
//! of every file, each naming its file, line and column (yara-x's report:
//! `--> rules/bad.yar:3:5`), rather than leaving the engine to run with
//! part of its rules.
//!
//! A scan runs on tokio's blocking pool (yara-x scans synchronously), at
//! most one per core at a time, with a per-scan timeout enforced by
//! yara-x itself ([`ScanError::Timeout`]: no assertion). Any matching rule
//! makes the artifact [`Verdict::Malicious`] with confidence 1.0; the family
//! is read from the first matching rule's `family` or `malware_family` meta
//! string, else from the rule's name (`Win32_Ransomware_WannaCry` is
//! `wannacry`, see [`swarm_sdk::family`]), which the metadata keeps as
//! `raw_family`, and every matching rule is listed in the metadata's
//! `rules`. No match is [`Verdict::Benign`] with confidence
//! [`BENIGN_CONFIDENCE`]: the rules' silence says less than a match does.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use swarm_sdk::{
    Artifact, Environment, ScanError, ScanMetadata, ScanResult, Scanner, ScannerInfo, Verdict,
};
use tokio::sync::Semaphore;

/// Confidence of a benign verdict: no rule matched.
pub const BENIGN_CONFIDENCE: f64 = 0.5;

/// The product name in the verdict metadata.
const PRODUCT: &str = "yara-x";

/// The yara-x version compiled in, for `scanner.vendor_version`.
const YARA_X_VERSION: &str = "yara-x 1.22";

/// Why the rules could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum YaraError {
    /// The directory or a file in it could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// What could not be read.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The directory holds no `.yar`/`.yara` file.
    #[error("{0} holds no .yar or .yara rule file")]
    NoRules(PathBuf),
    /// Some rules do not compile; yara-x's reports, each naming its file
    /// and line.
    #[error("YARA rules do not compile:\n{}", .0.join("\n"))]
    Compile(Vec<String>),
}

/// Compiled YARA rules, shared by every scan.
#[derive(Clone)]
pub struct YaraRules {
    rules: Arc<yara_x::Rules>,
    files: Vec<PathBuf>,
}

impl std::fmt::Debug for YaraRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("YaraRules")
            .field("files", &self.files)
            .field("rules", &self.rules.iter().len())
            .finish()
    }
}

/// The rule files under `dir`, in name order, recursively.
fn rule_files(dir: &Path) -> Result<Vec<PathBuf>, YaraError> {
    let read_err = |source| YaraError::Read {
        path: dir.to_owned(),
        source,
    };
    let mut entries = std::fs::read_dir(dir)
        .map_err(read_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_err)?;
    entries.sort_by_key(|e| e.file_name());
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.path();
        if path.is_dir() {
            files.extend(rule_files(&path)?);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yar" | "yara")
        ) {
            files.push(path);
        }
    }
    Ok(files)
}

impl YaraRules {
    /// Compiles every `*.yar`/`*.yara` file under `dir`.
    pub fn load_dir(dir: impl AsRef<Path>) -> Result<Self, YaraError> {
        let dir = dir.as_ref();
        let files = rule_files(dir)?;
        if files.is_empty() {
            return Err(YaraError::NoRules(dir.to_owned()));
        }
        let mut sources = Vec::with_capacity(files.len());
        for path in &files {
            let text = std::fs::read_to_string(path).map_err(|source| YaraError::Read {
                path: path.clone(),
                source,
            })?;
            sources.push((path.display().to_string(), text));
        }
        Self::compile(sources.iter().map(|(o, t)| (o.as_str(), t.as_str())), files)
    }

    /// Compiles rule sources given as (origin, text) pairs; the origin is
    /// what errors name (a file path, say).
    pub fn from_sources<'a>(
        sources: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, YaraError> {
        Self::compile(sources, Vec::new())
    }

    fn compile<'a>(
        sources: impl IntoIterator<Item = (&'a str, &'a str)>,
        files: Vec<PathBuf>,
    ) -> Result<Self, YaraError> {
        let mut compiler = yara_x::Compiler::new();
        compiler.colorize_errors(false);
        for (origin, text) in sources {
            // Every error is kept by the compiler; go on to report them all.
            let _ = compiler.add_source(yara_x::SourceCode::from(text).with_origin(origin));
        }
        let errors: Vec<String> = compiler.errors().iter().map(|e| e.to_string()).collect();
        if !errors.is_empty() {
            return Err(YaraError::Compile(errors));
        }
        Ok(YaraRules {
            rules: Arc::new(compiler.build()),
            files,
        })
    }

    /// The rule files compiled.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// How many rules there are.
    pub fn len(&self) -> usize {
        self.rules.iter().len()
    }

    /// Whether there is no rule.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One matching rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YaraMatch {
    /// The rule's name.
    pub rule: String,
    /// Its namespace.
    pub namespace: String,
    /// Its `family` or `malware_family` meta string, if any.
    pub family: Option<String>,
}

impl YaraMatch {
    /// The family this match reports: the meta's, else the rule name.
    pub fn family(&self) -> &str {
        self.family.as_deref().unwrap_or(&self.rule)
    }
}

/// Scans `data` with `rules` on this thread.
fn scan_blocking(
    rules: &yara_x::Rules,
    data: &[u8],
    timeout: Duration,
) -> Result<Vec<YaraMatch>, yara_x::ScanError> {
    let mut scanner = yara_x::Scanner::new(rules);
    scanner.set_timeout(timeout);
    let results = scanner.scan(data)?;
    Ok(results
        .matching_rules()
        .map(|rule| {
            let family = rule.metadata().find_map(|(key, value)| match (key, value) {
                ("family" | "malware_family", yara_x::MetaValue::String(s)) if !s.is_empty() => {
                    Some(s.to_owned())
                }
                _ => None,
            });
            YaraMatch {
                rule: rule.identifier().to_owned(),
                namespace: rule.namespace().to_owned(),
                family,
            }
        })
        .collect())
}

/// The yara engine.
#[derive(Debug)]
pub struct Yara {
    rules: YaraRules,
    timeout: Duration,
    slots: Arc<Semaphore>,
}

impl Yara {
    /// The engine over `rules`, each scan limited to `timeout` (yara-x
    /// checks it about once a second).
    pub fn new(rules: YaraRules, timeout: Duration) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Yara {
            rules,
            timeout,
            slots: Arc::new(Semaphore::new(cores)),
        }
    }

    /// The rules.
    pub fn rules(&self) -> &YaraRules {
        &self.rules
    }

    /// The rules matching `data`.
    pub async fn matches(&self, data: bytes::Bytes) -> Result<Vec<YaraMatch>, ScanError> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| ScanError::Other("scan slots closed".into()))?;
        let rules = Arc::clone(&self.rules.rules);
        let timeout = self.timeout;
        tokio::task::spawn_blocking(move || scan_blocking(&rules, &data, timeout))
            .await
            .map_err(|e| ScanError::Other(format!("YARA scan task failed: {e}")))?
            .map_err(|e| match e {
                yara_x::ScanError::Timeout => ScanError::Timeout(timeout),
                other => ScanError::Other(format!("YARA scan failed: {other}")),
            })
    }
}

impl Scanner for Yara {
    async fn scan(&self, artifact: &Artifact) -> Result<ScanResult, ScanError> {
        let matches = self.matches(artifact.content.clone()).await?;
        let scanner = ScannerInfo {
            version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            vendor_version: Some(YARA_X_VERSION.to_owned()),
            signatures_version: None,
            environment: Some(Environment::current()),
        };
        let (verdict, confidence, family) = match matches.first() {
            Some(first) => (Verdict::Malicious, 1.0, first.family().to_owned()),
            None => (Verdict::Benign, BENIGN_CONFIDENCE, String::new()),
        };
        let mut metadata = ScanMetadata::family(family)
            .normalize_family()
            .with_scanner(scanner);
        metadata.product = Some(PRODUCT.to_owned());
        if !matches.is_empty() {
            let names: Vec<String> = matches
                .iter()
                .map(|m| format!("{}.{}", m.namespace, m.rule))
                .collect();
            metadata
                .extra
                .insert("rules".to_owned(), serde_json::json!(names));
        }
        Ok(ScanResult {
            verdict,
            confidence,
            metadata,
            bid: None,
        })
    }
}
