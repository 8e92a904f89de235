//! What an engine author implements: a [`Scanner`] (SPEC §5.1), and the
//! verdict it returns with its [`ScanMetadata`] (SPEC §5.2).
//!
//! `ScanMetadata` serializes exactly as polyswarm-artifact's `Verdict`
//! metadata, so the metadata an engine reveals reads the same as the
//! original marketplace's.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use swarm_protocol::{Amount, ArtifactMetadata, Guid};

use crate::memory_file::ArtifactFile;

/// Whether an artifact is a file or a URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArtifactKind {
    /// A file; `content` is its bytes.
    File,
    /// A URL; `content` is the URL's text.
    Url,
}

/// One artifact of a bounty, fetched and ready to scan.
#[derive(Clone, Debug)]
pub struct Artifact {
    /// The bounty.
    pub bounty_guid: Guid,
    /// Position in the bounty.
    pub index: usize,
    /// File or URL.
    pub kind: ArtifactKind,
    /// The bytes (file) or the URL text.
    pub content: Bytes,
    /// The same bytes in a sealed memory file, when the scanner asked for
    /// one ([`Scanner::wants_memory_file`]) and the runtime could make it:
    /// a descriptor to pass to another process (clamd) instead of copying
    /// `content` again. `content` maps this file, so the two never differ.
    pub file: Option<ArtifactFile>,
    /// What the ambassador said about it (filename, mimetype, hashes).
    pub metadata: ArtifactMetadata,
    /// When an answer stops being of use (the bounty's assertion round
    /// closes); `None` outside a bounty. A scanner that hands the artifact
    /// on (a webhook engine) tells the other side; the runtime enforces it
    /// either way.
    pub deadline: Option<tokio::time::Instant>,
}

impl Artifact {
    /// A file outside any bounty, as `swarm scan` and an engine's own tests
    /// scan it: a nil bounty guid, index 0, and its size as metadata.
    pub fn file(content: impl Into<Bytes>) -> Self {
        let content = content.into();
        Artifact {
            bounty_guid: Guid::nil(),
            index: 0,
            kind: ArtifactKind::File,
            metadata: ArtifactMetadata {
                filesize: Some(content.len() as u64),
                ..ArtifactMetadata::default()
            },
            content,
            file: None,
            deadline: None,
        }
    }

    /// A file outside any bounty read from `reader` into a sealed memory
    /// file ([`ArtifactFile::read_from`]): `content` maps it and
    /// [`Artifact::file`] is set, as the runtime hands an artifact to a
    /// scanner that [wants a memory file](Scanner::wants_memory_file).
    pub fn read_file(reader: &mut impl std::io::Read) -> std::io::Result<Self> {
        let (content, file) = ArtifactFile::read_from(reader)?;
        Ok(Artifact {
            file: Some(file),
            ..Artifact::file(content)
        })
    }

    /// A URL outside any bounty.
    pub fn url(url: impl Into<String>) -> Self {
        let url = url.into();
        Artifact {
            bounty_guid: Guid::nil(),
            index: 0,
            kind: ArtifactKind::Url,
            content: Bytes::from(url.clone().into_bytes()),
            file: None,
            metadata: ArtifactMetadata {
                uri: Some(url),
                ..ArtifactMetadata::default()
            },
            deadline: None,
        }
    }

    /// Names the artifact, as an ambassador's `filename` metadata does.
    pub fn with_filename(mut self, name: impl Into<String>) -> Self {
        self.metadata.filename = Some(name.into());
        self
    }
}

/// An engine's opinion of an artifact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Asserted as malicious.
    Malicious,
    /// Asserted as benign.
    Benign,
    /// Not asserted on: the engine has a suspicion but will not bet on it.
    Suspicious,
    /// Not asserted on: the engine cannot tell.
    Unknown,
}

impl Verdict {
    /// Whether this verdict is asserted on (bets NCT): Malicious or Benign.
    pub fn asserts(self) -> bool {
        matches!(self, Verdict::Malicious | Verdict::Benign)
    }

    /// The verdict bit: malicious.
    pub fn is_malicious(self) -> bool {
        self == Verdict::Malicious
    }
}

/// The scanner that produced a verdict.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScannerInfo {
    /// The engine's own version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The wrapped product's version (e.g. ClamAV's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_version: Option<String>,
    /// The signature database's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signatures_version: Option<String>,
    /// Where it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
}

/// Operating system and architecture of a scanner.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    /// e.g. `linux`.
    pub operating_system: String,
    /// e.g. `x86_64`.
    pub architecture: String,
}

impl Environment {
    /// This process's platform.
    pub fn current() -> Self {
        Environment {
            operating_system: std::env::consts::OS.to_owned(),
            architecture: std::env::consts::ARCH.to_owned(),
        }
    }
}

/// A STIX signature.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stix {
    /// The STIX schema.
    pub schema: String,
    /// The signature.
    pub signature: serde_json::Value,
}

/// The key in [`ScanMetadata::extra`] of the detection name as the engine
/// gave it, once [`ScanMetadata::normalize_family`] put the normalized
/// family in `malware_family`.
pub const RAW_FAMILY: &str = "raw_family";

/// The key in [`ScanMetadata::extra`] of the platform the detection name
/// says (`windows`, `linux`, `document`, ...; see
/// [`Platform`](crate::family::Platform)).
pub const FAMILY_PLATFORM: &str = "family_platform";

/// The key in [`ScanMetadata::extra`] of the category the detection name
/// says (`trojan`, `ransomware`, `test`, ...; see
/// [`Category`](crate::family::Category)).
pub const FAMILY_CATEGORY: &str = "family_category";

/// Metadata of a verdict (polyswarm-artifact's `Verdict` schema).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScanMetadata {
    /// The malware family; `""` when none.
    #[serde(default)]
    pub malware_family: String,
    /// Product name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// Whether the verdict came from a heuristic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heuristic: Option<bool>,
    /// Domains seen in the artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domains: Option<Vec<String>>,
    /// IP addresses seen in the artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_addresses: Option<Vec<String>>,
    /// STIX signatures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stix: Option<Vec<Stix>>,
    /// The scanner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scanner: Option<ScannerInfo>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl ScanMetadata {
    /// Metadata naming a malware family.
    pub fn family(name: impl Into<String>) -> Self {
        ScanMetadata {
            malware_family: name.into(),
            ..Default::default()
        }
    }

    /// Replaces the engine's raw detection name in `malware_family` by its
    /// normalized family ([`Family::parse`](crate::family::Family::parse):
    /// `Ransom:Win32/WannaCrypt.A!rsm` is `wannacry`, a generic name is
    /// `""`), and keeps the raw name in `extra`'s [`RAW_FAMILY`], with what
    /// the name says of the platform and the category in
    /// [`FAMILY_PLATFORM`] and [`FAMILY_CATEGORY`]. A name that says it is
    /// generic or heuristic sets `heuristic`.
    ///
    /// Normalizing twice changes nothing: a `raw_family` already there is
    /// the name read. Without a name (`""`), nothing changes.
    pub fn normalize_family(mut self) -> Self {
        let raw = match self.extra.get(RAW_FAMILY) {
            Some(serde_json::Value::String(raw)) => raw.clone(),
            _ => std::mem::take(&mut self.malware_family),
        };
        if raw.trim().is_empty() {
            self.malware_family = String::new();
            return self;
        }
        let family = crate::family::Family::parse(&raw);
        self.malware_family = family.name().to_owned();
        if family.heuristic {
            self.heuristic = Some(true);
        }
        if let Some(platform) = family.platform {
            self.extra
                .insert(FAMILY_PLATFORM.to_owned(), platform.as_str().into());
        }
        if let Some(category) = family.category {
            self.extra
                .insert(FAMILY_CATEGORY.to_owned(), category.as_str().into());
        }
        self.extra.insert(RAW_FAMILY.to_owned(), raw.into());
        self
    }

    /// Sets the scanner information.
    pub fn with_scanner(mut self, scanner: ScannerInfo) -> Self {
        self.scanner = Some(scanner);
        self
    }
}

/// The result of scanning one artifact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScanResult {
    /// The verdict.
    pub verdict: Verdict,
    /// How sure, from 0 to 1; drives the bid.
    pub confidence: f64,
    /// What the engine found.
    pub metadata: ScanMetadata,
    /// The stake the scanner chose itself (a webhook engine's `bid`),
    /// clamped by the runtime into the community's bounds; `None`, as for
    /// most scanners: the engine's [`BidStrategy`](crate::BidStrategy)
    /// turns the confidence into a bid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bid: Option<Amount>,
}

impl ScanResult {
    /// Malicious, with `confidence`, naming `family`.
    pub fn malicious(confidence: f64, family: impl Into<String>) -> Self {
        ScanResult {
            verdict: Verdict::Malicious,
            confidence,
            metadata: ScanMetadata::family(family),
            bid: None,
        }
    }

    /// Benign with `confidence`.
    pub fn benign(confidence: f64) -> Self {
        ScanResult {
            verdict: Verdict::Benign,
            confidence,
            metadata: ScanMetadata::default(),
            bid: None,
        }
    }

    /// No opinion: not asserted on.
    pub fn unknown() -> Self {
        ScanResult {
            verdict: Verdict::Unknown,
            confidence: 0.0,
            metadata: ScanMetadata::default(),
            bid: None,
        }
    }

    /// Stakes `bid` on this verdict instead of what the engine's bid
    /// strategy makes of the confidence (clamped into the community's
    /// bounds all the same).
    pub fn with_bid(mut self, bid: Amount) -> Self {
        self.bid = Some(bid);
        self
    }

    /// The confidence clamped into 0..=1 (NaN counts as 0).
    pub fn clamped_confidence(&self) -> f64 {
        if self.confidence.is_nan() {
            0.0
        } else {
            self.confidence.clamp(0.0, 1.0)
        }
    }
}

/// Why a scan failed. A failed scan never becomes an assertion.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// The backend (daemon, library) is unavailable.
    #[error("scanner backend unavailable: {0}")]
    Unavailable(String),
    /// The scan ran past its deadline.
    #[error("scan timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// The artifact could not be scanned.
    #[error("cannot scan artifact: {0}")]
    Artifact(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// An engine's scanning logic: the one thing an engine author implements.
///
/// ```
/// use swarm_sdk::{Artifact, ScanError, ScanResult, Scanner};
///
/// struct Eicar;
///
/// impl Scanner for Eicar {
///     async fn scan(&self, artifact: &Artifact) -> Result<ScanResult, ScanError> {
///         if artifact.content.starts_with(b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR") {
///             Ok(ScanResult::malicious(1.0, "EICAR-Test-File"))
///         } else {
///             Ok(ScanResult::benign(0.8))
///         }
///     }
/// }
/// ```
pub trait Scanner: Send + Sync + 'static {
    /// Prepares the backend; may be called again after a failure.
    fn setup(&self) -> impl std::future::Future<Output = Result<(), ScanError>> + Send {
        async { Ok(()) }
    }

    /// Scans one artifact.
    fn scan(
        &self,
        artifact: &Artifact,
    ) -> impl std::future::Future<Output = Result<ScanResult, ScanError>> + Send;

    /// Whether the scanner would rather have each artifact in a sealed
    /// memory file ([`Artifact::file`]) — a scanner that passes artifacts
    /// to another process by descriptor, as the clamav engine does with a
    /// local clamd. The runtime then downloads into one instead of into
    /// memory, at no extra copy; the default is no.
    fn wants_memory_file(&self) -> bool {
        false
    }

    /// Releases the backend.
    fn teardown(&self) -> impl std::future::Future<Output = Result<(), ScanError>> + Send {
        async { Ok(()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_json_matches_polyswarm_artifact() {
        let m = ScanMetadata::family("EICAR").with_scanner(ScannerInfo {
            version: Some("1.0".into()),
            vendor_version: Some("ClamAV 1.0.7".into()),
            signatures_version: None,
            environment: Some(Environment {
                operating_system: "linux".into(),
                architecture: "x86_64".into(),
            }),
        });
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "malware_family": "EICAR",
                "scanner": {
                    "version": "1.0",
                    "vendor_version": "ClamAV 1.0.7",
                    "environment": {"operating_system": "linux", "architecture": "x86_64"}
                }
            })
        );
        // Extra fields survive a round trip; a missing family reads as "".
        let parsed: ScanMetadata =
            serde_json::from_value(serde_json::json!({"heuristic": true, "vendor": "x"})).unwrap();
        assert_eq!(parsed.malware_family, "");
        assert_eq!(parsed.extra["vendor"], "x");
    }

    #[test]
    fn normalizing_keeps_the_raw_name_and_is_idempotent() {
        let m = ScanMetadata::family("Ransom:Win32/WannaCrypt.A!rsm").normalize_family();
        assert_eq!(m.malware_family, "wannacry");
        assert_eq!(m.extra[RAW_FAMILY], "Ransom:Win32/WannaCrypt.A!rsm");
        assert_eq!(m.extra[FAMILY_PLATFORM], "windows");
        assert_eq!(m.extra[FAMILY_CATEGORY], "ransomware");
        assert_eq!(m.heuristic, None);
        assert_eq!(m.clone().normalize_family(), m);

        let generic = ScanMetadata::family("Trojan.GenericKD.31234567").normalize_family();
        assert_eq!(generic.malware_family, "");
        assert_eq!(generic.heuristic, Some(true));
        assert_eq!(generic.extra[RAW_FAMILY], "Trojan.GenericKD.31234567");
        assert_eq!(generic.clone().normalize_family(), generic);

        // No name: nothing added.
        assert_eq!(
            ScanMetadata::default().normalize_family(),
            ScanMetadata::default()
        );
    }

    #[test]
    fn artifacts_outside_a_bounty() {
        let f = Artifact::file(&b"abc"[..]).with_filename("a.txt");
        assert_eq!(f.kind, ArtifactKind::File);
        assert_eq!(f.metadata.filesize, Some(3));
        assert_eq!(f.metadata.filename.as_deref(), Some("a.txt"));
        let u = Artifact::url("https://example.com/");
        assert_eq!(u.kind, ArtifactKind::Url);
        assert_eq!(&u.content[..], b"https://example.com/");
        assert_eq!(u.metadata.uri.as_deref(), Some("https://example.com/"));
    }

    #[test]
    fn only_malicious_and_benign_assert() {
        assert!(Verdict::Malicious.asserts() && Verdict::Benign.asserts());
        assert!(!Verdict::Suspicious.asserts() && !Verdict::Unknown.asserts());
        let r = ScanResult {
            confidence: f64::NAN,
            ..ScanResult::unknown()
        };
        assert_eq!(r.clamped_confidence(), 0.0);
    }
}
