//! The "Hello World" engine of the tutorial: detect the EICAR test file.
//!
//! The EICAR test file is *defined* as a file holding only the 68-byte
//! string [`EICAR`]. The tutorial shows two ways to recognise it, and both
//! are here:
//!
//! - [`EicarExact`] compares the whole content with the string (the
//!   tutorial's `eicar.py`: `if content == EICAR`). A file that merely
//!   *contains* the string — with a trailing newline, say — is not EICAR.
//! - [`EicarSha256`] compares the content's sha256 with [`EICAR_SHA256`].
//!
//! Both answer [`Verdict::Malicious`] for EICAR (family `eicar`, named
//! [`EICAR_FAMILY`]) and [`Verdict::Benign`] for anything else, each with
//! confidence 1.0. The tutorial's scanners return `(bit=True, verdict)` for
//! every file, i.e. they always assert and are certain either way; and the
//! original client's default confidence was 1.0. The match is exact, so a
//! benign verdict is as certain as a malicious one. (With the `default` bid
//! strategy, confidence 1.0 bids the community's maximum on every artifact;
//! pick `conservative` to always bid the minimum.)
//!
//! [`Eicar`] holds either variant, for callers that choose at run time.
//!
//! URLs have no EICAR test *file*, so all three share one rule for a URL
//! artifact: malicious when the URL's text holds "eicar" in any case
//! (`http://malware.example/eicar.com`, an EICAR download), benign
//! otherwise. It is a test rule, as the file test is: it gives `swarm dev
//! --urls` and URL engines under test a truth both sides can know without
//! fetching anything.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};
use swarm_sdk::{
    Artifact, ArtifactKind, Environment, ScanError, ScanMetadata, ScanResult, Scanner, ScannerInfo,
    Verdict,
};

/// The EICAR test file: exactly these 68 bytes (the SDK's, which its
/// ambassador posts).
pub const EICAR: &[u8; 68] = swarm_sdk::EICAR;

/// Lowercase hex sha256 of [`EICAR`].
pub const EICAR_SHA256: &str = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f";

/// The detection name the engine gives EICAR, kept as the metadata's
/// `raw_family`; its `malware_family` is the normalized
/// [`swarm_sdk::family::EICAR`], `eicar`, as every vendor's EICAR is.
pub const EICAR_FAMILY: &str = "EICAR-Test-File";

/// The product name in the verdict metadata.
const PRODUCT: &str = "swarm-eicar";

/// The verdict for `is_eicar`, with the scanner's metadata.
fn result(is_eicar: bool) -> ScanResult {
    let scanner = ScannerInfo {
        version: Some(env!("CARGO_PKG_VERSION").to_owned()),
        environment: Some(Environment::current()),
        ..Default::default()
    };
    let family = if is_eicar { EICAR_FAMILY } else { "" };
    let mut metadata = ScanMetadata::family(family)
        .normalize_family()
        .with_scanner(scanner);
    metadata.product = Some(PRODUCT.to_owned());
    ScanResult {
        verdict: if is_eicar {
            Verdict::Malicious
        } else {
            Verdict::Benign
        },
        confidence: 1.0,
        metadata,
        bid: None,
    }
}

/// Whether a URL artifact's text names EICAR: it holds "eicar", in any case.
pub fn url_names_eicar(url: &[u8]) -> bool {
    url.windows(5).any(|w| w.eq_ignore_ascii_case(b"eicar"))
}

/// The verdict on `artifact`: the URL rule for a URL, `file_test` on a
/// file's content.
fn decide(artifact: &Artifact, file_test: impl Fn(&[u8]) -> bool) -> ScanResult {
    match artifact.kind {
        ArtifactKind::Url => result(url_names_eicar(&artifact.content)),
        ArtifactKind::File => result(file_test(&artifact.content)),
    }
}

/// EICAR by exact comparison of the whole content.
#[derive(Clone, Copy, Debug, Default)]
pub struct EicarExact;

impl EicarExact {
    /// Whether `content` is the EICAR test file.
    pub fn matches(content: &[u8]) -> bool {
        content == EICAR.as_slice()
    }
}

impl Scanner for EicarExact {
    async fn scan(&self, artifact: &Artifact) -> Result<ScanResult, ScanError> {
        Ok(decide(artifact, Self::matches))
    }
}

/// EICAR by sha256 of the content.
#[derive(Clone, Copy, Debug, Default)]
pub struct EicarSha256;

impl EicarSha256 {
    /// Whether `content` hashes to [`EICAR_SHA256`].
    pub fn matches(content: &[u8]) -> bool {
        hex::encode(Sha256::digest(content)) == EICAR_SHA256
    }
}

impl Scanner for EicarSha256 {
    async fn scan(&self, artifact: &Artifact) -> Result<ScanResult, ScanError> {
        Ok(decide(artifact, Self::matches))
    }
}

/// Which way to recognise EICAR.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EicarVariant {
    /// [`EicarExact`].
    #[default]
    Exact,
    /// [`EicarSha256`].
    Sha256,
}

impl fmt::Display for EicarVariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EicarVariant::Exact => "exact",
            EicarVariant::Sha256 => "sha256",
        })
    }
}

/// A name that is neither `exact` nor `sha256`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown EICAR variant {0:?} (expected exact or sha256)")]
pub struct UnknownVariant(pub String);

impl FromStr for EicarVariant {
    type Err = UnknownVariant;

    /// `exact` or `sha256`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "exact" => Ok(EicarVariant::Exact),
            "sha256" => Ok(EicarVariant::Sha256),
            other => Err(UnknownVariant(other.to_owned())),
        }
    }
}

/// The EICAR engine in the variant chosen at run time.
#[derive(Clone, Copy, Debug, Default)]
pub struct Eicar {
    variant: EicarVariant,
}

impl Eicar {
    /// The engine in `variant`.
    pub fn new(variant: EicarVariant) -> Self {
        Eicar { variant }
    }

    /// Its variant.
    pub fn variant(&self) -> EicarVariant {
        self.variant
    }

    /// Whether `content` is EICAR by this variant's test.
    pub fn matches(&self, content: &[u8]) -> bool {
        match self.variant {
            EicarVariant::Exact => EicarExact::matches(content),
            EicarVariant::Sha256 => EicarSha256::matches(content),
        }
    }
}

impl Scanner for Eicar {
    async fn scan(&self, artifact: &Artifact) -> Result<ScanResult, ScanError> {
        Ok(decide(artifact, |c| self.matches(c)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact(content: &[u8]) -> Artifact {
        Artifact::file(content.to_vec())
    }

    async fn verdicts<S: Scanner>(scanner: &S) -> Vec<(Verdict, String)> {
        let inputs: [&[u8]; 5] = [
            EICAR,
            b"",
            b"hello, world",
            b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*\n",
            b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR",
        ];
        let mut out = Vec::new();
        for input in inputs {
            let r = scanner.scan(&artifact(input)).await.unwrap();
            assert_eq!(r.confidence, 1.0);
            let info = r.metadata.scanner.clone().unwrap();
            assert_eq!(info.version.as_deref(), Some(env!("CARGO_PKG_VERSION")));
            assert_eq!(info.environment, Some(Environment::current()));
            out.push((r.verdict, r.metadata.malware_family));
        }
        out
    }

    fn expected() -> Vec<(Verdict, String)> {
        let benign = (Verdict::Benign, String::new());
        vec![
            (Verdict::Malicious, swarm_sdk::family::EICAR.to_owned()),
            benign.clone(),
            benign.clone(),
            // Only the exact 68 bytes are EICAR: no trailing newline, no prefix.
            benign.clone(),
            benign,
        ]
    }

    #[test]
    fn constants_agree() {
        assert_eq!(EICAR.len(), 68);
        assert_eq!(hex::encode(Sha256::digest(EICAR)), EICAR_SHA256);
        assert_eq!(EICAR.as_slice(), swarm_sdk::EICAR);
    }

    #[tokio::test]
    async fn exact_detects_only_eicar() {
        assert_eq!(verdicts(&EicarExact).await, expected());
    }

    #[tokio::test]
    async fn sha256_detects_only_eicar() {
        assert_eq!(verdicts(&EicarSha256).await, expected());
    }

    #[tokio::test]
    async fn runtime_variant() {
        assert_eq!(verdicts(&Eicar::new(EicarVariant::Exact)).await, expected());
        assert_eq!(
            verdicts(&Eicar::new(EicarVariant::Sha256)).await,
            expected()
        );
        assert_eq!("sha256".parse(), Ok(EicarVariant::Sha256));
        assert_eq!("exact".parse(), Ok(EicarVariant::Exact));
        assert!("fuzzy".parse::<EicarVariant>().is_err());
        assert_eq!(EicarVariant::Sha256.to_string(), "sha256");
    }

    #[tokio::test]
    async fn a_url_naming_eicar_is_malicious_in_every_variant() {
        let scanners = [
            Eicar::new(EicarVariant::Exact),
            Eicar::new(EicarVariant::Sha256),
        ];
        for s in scanners {
            for (url, verdict) in [
                ("http://malware.example/eicar.com", Verdict::Malicious),
                (
                    "https://Downloads.example/EICAR_test.zip",
                    Verdict::Malicious,
                ),
                ("https://example.com/", Verdict::Benign),
                ("https://example.com/eica", Verdict::Benign),
            ] {
                let r = s.scan(&Artifact::url(url)).await.unwrap();
                assert_eq!(r.verdict, verdict, "{url}");
            }
        }
        let r = EicarExact
            .scan(&Artifact::url("http://x.example/eicar"))
            .await;
        let m = r.unwrap().metadata;
        assert_eq!(m.malware_family, swarm_sdk::family::EICAR);
        assert_eq!(m.extra[swarm_sdk::RAW_FAMILY], EICAR_FAMILY);
        let r = EicarSha256
            .scan(&Artifact::url("https://example.com/"))
            .await;
        assert_eq!(r.unwrap().verdict, Verdict::Benign);
        // A *file* holding the word is not EICAR: the rule is for URLs.
        let r = EicarExact.scan(&artifact(b"eicar")).await.unwrap();
        assert_eq!(r.verdict, Verdict::Benign);
    }

    #[tokio::test]
    async fn metadata_is_polyswarm_verdict_json() {
        let r = EicarExact.scan(&artifact(EICAR)).await.unwrap();
        let v = serde_json::to_value(&r.metadata).unwrap();
        assert_eq!(v["malware_family"], "eicar");
        assert_eq!(v["raw_family"], EICAR_FAMILY);
        assert_eq!(v["family_category"], "test");
        assert_eq!(v["product"], "swarm-eicar");
        assert_eq!(v["scanner"]["version"], env!("CARGO_PKG_VERSION"));
        assert!(v["scanner"]["environment"]["operating_system"].is_string());
    }
}
