//! The ground truth an arbiter votes: the [`GroundTruth`] trait and the two
//! backends the SDK ships, [`ScannerTruth`] and [`Sha256Table`].

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::Digest;

use crate::scanner::{Artifact, ScanError, Scanner, Verdict};

/// How an arbiter decides the truth about an artifact.
///
/// `Ok(Some(true))`: malicious; `Ok(Some(false))`: benign; `Ok(None)`:
/// cannot tell (votes benign); `Err`: the backend failed (the arbiter
/// retries, then abstains from the bounty).
pub trait GroundTruth: Send + Sync + 'static {
    /// Whether [`GroundTruth::decide`] needs the artifact's content. When
    /// `false`, the runtime does not download anything: it passes each
    /// artifact with empty content and the metadata of the bundle's
    /// manifest (filename, size, mimetype and the node-computed hashes).
    fn needs_content(&self) -> bool {
        true
    }

    /// Prepares the backend; called once when the arbiter starts.
    fn setup(&self) -> impl Future<Output = Result<(), ScanError>> + Send {
        async { Ok(()) }
    }

    /// Decides one artifact.
    fn decide(
        &self,
        artifact: &Artifact,
    ) -> impl Future<Output = Result<Option<bool>, ScanError>> + Send;

    /// Releases the backend; called once when the arbiter stops.
    fn teardown(&self) -> impl Future<Output = Result<(), ScanError>> + Send {
        async { Ok(()) }
    }
}

/// A [`Scanner`] as ground truth: Malicious → `Some(true)`, Benign →
/// `Some(false)`, Suspicious and Unknown → `None`.
#[derive(Clone, Debug, Default)]
pub struct ScannerTruth<S> {
    scanner: S,
}

impl<S: Scanner> ScannerTruth<S> {
    /// Decides with `scanner`.
    pub fn new(scanner: S) -> Self {
        ScannerTruth { scanner }
    }

    /// The scanner.
    pub fn scanner(&self) -> &S {
        &self.scanner
    }
}

impl<S: Scanner> GroundTruth for ScannerTruth<S> {
    async fn setup(&self) -> Result<(), ScanError> {
        self.scanner.setup().await
    }

    async fn decide(&self, artifact: &Artifact) -> Result<Option<bool>, ScanError> {
        let result = self.scanner.scan(artifact).await?;
        Ok(match result.verdict {
            Verdict::Malicious => Some(true),
            Verdict::Benign => Some(false),
            Verdict::Suspicious | Verdict::Unknown => None,
        })
    }

    async fn teardown(&self) -> Result<(), ScanError> {
        self.scanner.teardown().await
    }
}

/// Why a ground-truth table does not load.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TableError {
    /// The file cannot be read.
    #[error("cannot read {path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        error: std::io::Error,
    },
    /// A CSV line is wrong (lines count from 1).
    #[error("line {line}: {message}")]
    Line {
        /// The line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The JSON is wrong.
    #[error("{0}")]
    Json(String),
}

/// A verbatim sha256 → verdict table (`true`: malicious).
///
/// Loads from CSV — one `sha256,malicious` or `sha256,benign` per line;
/// blank lines, `#` comments and a `sha256,...` header line are skipped;
/// `true`/`false` and `1`/`0` are accepted as well — or from JSON: either an
/// object `{"<sha256>": "malicious" | "benign" | true | false, ...}` or an
/// array of `{"sha256": "...", "malicious": bool}` (or `"verdict":
/// "malicious" | "benign"`). Hashes are 64 hex digits, any case. A hash
/// listed twice with different verdicts is an error.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sha256Table {
    table: HashMap<[u8; 32], bool>,
}

fn parse_sha256(text: &str) -> Result<[u8; 32], String> {
    let text = text.trim();
    let mut out = [0u8; 32];
    if text.len() != 64 {
        return Err(format!("{text:?} is not a sha256 (64 hex digits)"));
    }
    hex::decode_to_slice(text, &mut out)
        .map_err(|_| format!("{text:?} is not a sha256 (64 hex digits)"))?;
    Ok(out)
}

fn parse_verdict(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "malicious" | "true" | "1" => Ok(true),
        "benign" | "false" | "0" => Ok(false),
        other => Err(format!("{other:?} is not malicious or benign")),
    }
}

impl Sha256Table {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `sha256` (64 hex digits) as malicious or benign.
    pub fn insert(&mut self, sha256: &str, malicious: bool) -> Result<(), String> {
        let key = parse_sha256(sha256)?;
        match self.table.insert(key, malicious) {
            Some(previous) if previous != malicious => Err(format!(
                "{} is listed both as malicious and as benign",
                sha256.trim()
            )),
            _ => Ok(()),
        }
    }

    /// The verdict for `sha256`, if listed (or if it is not a sha256).
    pub fn get(&self, sha256: &str) -> Option<bool> {
        let key = parse_sha256(sha256).ok()?;
        self.table.get(&key).copied()
    }

    /// The verdict for `content`, by its sha256.
    pub fn get_content(&self, content: &[u8]) -> Option<bool> {
        let key: [u8; 32] = sha2::Sha256::digest(content).into();
        self.table.get(&key).copied()
    }

    /// Hashes listed.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether nothing is listed.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Parses the CSV form.
    pub fn from_csv(text: &str) -> Result<Self, TableError> {
        let mut table = Sha256Table::new();
        for (i, line) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |message: String| TableError::Line {
                line: line_no,
                message,
            };
            let Some((hash, verdict)) = line.split_once(',') else {
                return Err(err(format!("expected sha256,verdict, got {line:?}")));
            };
            if line_no == 1 && hash.trim().eq_ignore_ascii_case("sha256") {
                continue;
            }
            let verdict = verdict.trim().trim_end_matches(',');
            let malicious = parse_verdict(verdict).map_err(err)?;
            table.insert(hash, malicious).map_err(err)?;
        }
        Ok(table)
    }

    /// Parses the JSON form.
    pub fn from_json(text: &str) -> Result<Self, TableError> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Verdictish {
            Bool(bool),
            Text(String),
        }
        impl Verdictish {
            fn get(&self) -> Result<bool, String> {
                match self {
                    Verdictish::Bool(b) => Ok(*b),
                    Verdictish::Text(t) => parse_verdict(t),
                }
            }
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Entry {
            sha256: String,
            #[serde(default)]
            malicious: Option<bool>,
            #[serde(default)]
            verdict: Option<Verdictish>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Doc {
            Map(std::collections::BTreeMap<String, Verdictish>),
            List(Vec<Entry>),
        }
        let doc: Doc = serde_json::from_str(text).map_err(|e| {
            TableError::Json(format!(
                "not a sha256 table (an object of sha256 -> verdict, or a list of \
                 {{\"sha256\", \"malicious\"}}): {e}"
            ))
        })?;
        let mut table = Sha256Table::new();
        match doc {
            Doc::Map(map) => {
                for (hash, verdict) in map {
                    let malicious = verdict
                        .get()
                        .map_err(|e| TableError::Json(format!("{hash}: {e}")))?;
                    table.insert(&hash, malicious).map_err(TableError::Json)?;
                }
            }
            Doc::List(entries) => {
                for (i, entry) in entries.into_iter().enumerate() {
                    let malicious = match (entry.malicious, entry.verdict) {
                        (Some(m), None) => m,
                        (None, Some(v)) => v
                            .get()
                            .map_err(|e| TableError::Json(format!("entry {i}: {e}")))?,
                        _ => {
                            return Err(TableError::Json(format!(
                                "entry {i}: give exactly one of \"malicious\" and \"verdict\""
                            )))
                        }
                    };
                    table
                        .insert(&entry.sha256, malicious)
                        .map_err(|e| TableError::Json(format!("entry {i}: {e}")))?;
                }
            }
        }
        Ok(table)
    }

    /// Parses JSON when the text starts with `{` or `[`, CSV otherwise.
    pub fn parse(text: &str) -> Result<Self, TableError> {
        match text.trim_start().chars().next() {
            Some('{') | Some('[') => Self::from_json(text),
            _ => Self::from_csv(text),
        }
    }

    /// Loads a table file (JSON or CSV, told apart by content).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, TableError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|error| TableError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        Self::parse(&text)
    }
}

impl GroundTruth for Sha256Table {
    fn needs_content(&self) -> bool {
        false
    }

    /// By the manifest's sha256 when the artifact has no content, by the
    /// content's own hash otherwise.
    async fn decide(&self, artifact: &Artifact) -> Result<Option<bool>, ScanError> {
        if artifact.content.is_empty() {
            if let Some(sha256) = &artifact.metadata.sha256 {
                return Ok(self.get(sha256));
            }
        }
        Ok(self.get_content(&artifact.content))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scanner::{ArtifactKind, ScanResult};
    use bytes::Bytes;
    use swarm_protocol::{ArtifactMetadata, Guid};

    const A: &str = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f";
    const B: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn csv_table() {
        let text = format!(
            "sha256,verdict\n# a comment\n\n{A},malicious\n{}, Benign \n",
            B.to_uppercase()
        );
        let t = Sha256Table::from_csv(&text).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t.get(A), Some(true));
        assert_eq!(t.get(B), Some(false));
        assert_eq!(t.get(&B.to_uppercase()), Some(false));
        assert_eq!(t.get_content(b""), Some(false));
        assert_eq!(t.get(&"0".repeat(64)), None);
        assert_eq!(t.get("nonsense"), None);
        // true/false and 1/0 work too.
        let t = Sha256Table::from_csv(&format!("{A},1\n{B},false")).unwrap();
        assert_eq!((t.get(A), t.get(B)), (Some(true), Some(false)));
    }

    #[test]
    fn csv_errors_name_the_line() {
        let e = Sha256Table::from_csv(&format!("{A},malicious\n{B},maybe\n")).unwrap_err();
        assert!(e.to_string().starts_with("line 2:"), "{e}");
        let e = Sha256Table::from_csv("abc,malicious\n").unwrap_err();
        assert!(e.to_string().contains("not a sha256"), "{e}");
        let e = Sha256Table::from_csv(&format!("\n{A}\n")).unwrap_err();
        assert!(e.to_string().starts_with("line 2:"), "{e}");
        let e = Sha256Table::from_csv(&format!("{A},malicious\n{A},benign\n")).unwrap_err();
        assert!(e.to_string().contains("both"), "{e}");
        // The same verdict twice is fine.
        assert_eq!(
            Sha256Table::from_csv(&format!("{A},malicious\n{A},malicious\n"))
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn json_tables() {
        let object = format!(r#"{{"{A}": "malicious", "{B}": false}}"#);
        let t = Sha256Table::from_json(&object).unwrap();
        assert_eq!((t.get(A), t.get(B)), (Some(true), Some(false)));
        let list = format!(
            r#"[{{"sha256": "{A}", "malicious": true}}, {{"sha256": "{B}", "verdict": "benign"}}]"#
        );
        let t2 = Sha256Table::parse(&list).unwrap();
        assert_eq!(t, t2);
        assert!(Sha256Table::from_json(&format!(r#"{{"{A}": "meh"}}"#)).is_err());
        assert!(Sha256Table::from_json(&format!(r#"[{{"sha256": "{A}"}}]"#)).is_err());
        assert!(Sha256Table::from_json("[1, 2]").is_err());
        assert!(Sha256Table::from_json(r#"{"xyz": true}"#).is_err());
    }

    #[test]
    fn load_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("t.csv");
        std::fs::write(&csv, format!("{A},malicious\n")).unwrap();
        let json = dir.path().join("t.txt");
        std::fs::write(&json, format!("  {{\"{A}\": true}}")).unwrap();
        assert_eq!(
            Sha256Table::load(&csv).unwrap(),
            Sha256Table::load(&json).unwrap()
        );
        let e = Sha256Table::load(dir.path().join("missing")).unwrap_err();
        assert!(matches!(e, TableError::Io { .. }), "{e}");
    }

    fn artifact(content: &'static [u8], sha256: Option<&str>) -> Artifact {
        Artifact {
            bounty_guid: Guid::nil(),
            index: 0,
            kind: ArtifactKind::File,
            content: Bytes::from_static(content),
            file: None,
            metadata: ArtifactMetadata {
                sha256: sha256.map(str::to_owned),
                ..Default::default()
            },
            deadline: None,
        }
    }

    #[tokio::test]
    async fn table_decides_by_manifest_hash_or_content() {
        let mut t = Sha256Table::new();
        t.insert(A, true).unwrap();
        assert!(!t.needs_content());
        assert_eq!(t.decide(&artifact(b"", Some(A))).await.unwrap(), Some(true));
        assert_eq!(t.decide(&artifact(b"", Some(B))).await.unwrap(), None);
        // Content, when there is some, is hashed itself.
        let eicar = crate::ambassador::EICAR;
        let a = Artifact {
            content: Bytes::from_static(eicar),
            file: None,
            ..artifact(b"", Some(B))
        };
        assert_eq!(t.decide(&a).await.unwrap(), Some(true));
    }

    struct Fixed(Verdict);

    impl Scanner for Fixed {
        async fn scan(&self, _: &Artifact) -> Result<ScanResult, ScanError> {
            Ok(ScanResult {
                verdict: self.0,
                ..ScanResult::unknown()
            })
        }
    }

    #[tokio::test]
    async fn scanner_truth_maps_verdicts() {
        let a = artifact(b"x", None);
        let cases = [
            (Verdict::Malicious, Some(true)),
            (Verdict::Benign, Some(false)),
            (Verdict::Suspicious, None),
            (Verdict::Unknown, None),
        ];
        for (verdict, expected) in cases {
            let truth = ScannerTruth::new(Fixed(verdict));
            assert!(truth.needs_content());
            assert_eq!(truth.decide(&a).await.unwrap(), expected, "{verdict:?}");
        }
    }
}
