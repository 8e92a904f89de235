//! PolySwarm's webhook protocol, as the `polyswarm-engine` package speaks
//! it: the `Bounty` swarm posts for each artifact, the `Analysis` the
//! engine posts back to the bounty's `response_url`, and the HMAC that
//! signs every delivery.
//!
//! Field names and shapes follow the package's `typing.py` (`Bounty`,
//! `Analysis`) and `wsgi.py` (`X-POLYSWARM-SIGNATURE` is the hex
//! HMAC-SHA256 of the exact body, keyed with the shared secret).

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use swarm_sdk::swarm_protocol::Amount;
use swarm_sdk::{ScanMetadata, ScanResult, Verdict};

/// The header naming the event: `bounty` or `ping`.
pub const EVENT_HEADER: &str = "X-POLYSWARM-EVENT";
/// The header with a unique id of the delivery (the same on its retries).
pub const DELIVERY_HEADER: &str = "X-POLYSWARM-DELIVERY";
/// The header with the body's signature.
pub const SIGNATURE_HEADER: &str = "X-POLYSWARM-SIGNATURE";

/// What swarm posts to a webhook engine for one artifact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bounty {
    /// Unique per delivery; the package names its temporary files after it.
    pub id: u64,
    /// `FILE` or `URL`.
    pub artifact_type: String,
    /// Where the engine downloads the artifact (for a URL: the URL's text).
    pub artifact_uri: String,
    /// Where the engine posts its `Analysis`.
    pub response_url: String,
    /// The artifact's hash and type.
    pub metadata: BountyMetadata,
    /// The community's bid limits, in wei.
    pub rules: BountyRules,
    /// Seconds from `tasked_at` to `expiration`.
    pub duration: u64,
    /// When an analysis stops being of use (RFC 3339).
    pub expiration: String,
    /// When swarm handed the artifact over (RFC 3339).
    pub tasked_at: String,
}

/// The artifact's hash and MIME type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BountyMetadata {
    /// Hex SHA-256 of the artifact.
    pub sha256: String,
    /// Its MIME type (`text/uri-list` for a URL).
    pub mimetype: String,
}

/// Bid limits of the community, in wei, as JSON integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BountyRules {
    /// Smallest bid allowed.
    pub min_allowed_bid: u128,
    /// Largest bid allowed.
    pub max_allowed_bid: u128,
}

/// What a webhook engine posts to the `response_url`
/// (polyswarm-engine's `Analysis`).
#[derive(Clone, Debug, Deserialize)]
pub struct Analysis {
    /// `malicious`, `benign`, `suspicious` or `unknown`.
    pub verdict: String,
    /// The stake in wei; required (> 0) with malicious and benign.
    #[serde(default)]
    pub bid: Option<serde_json::Number>,
    /// 0 to 1.
    #[serde(default)]
    pub confidence: Option<f64>,
    /// polyswarm-artifact's Verdict metadata.
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
    /// The engine's vendor.
    #[serde(default)]
    pub vendor: Option<String>,
    /// The engine's author.
    #[serde(default)]
    pub author: Option<String>,
}

impl Analysis {
    /// The scan result it stands for, or why it cannot be used.
    ///
    /// Malicious and benign carry the engine's bid (the microengine clamps
    /// it into the community's limits); suspicious and unknown are not
    /// asserted on and their bid, if any, is ignored. A missing confidence
    /// reads as 1.0. `vendor` and `author` are kept in the metadata; its
    /// `malware_family` is normalized, the engine's name kept as
    /// `raw_family` ([`ScanMetadata::normalize_family`]).
    pub fn into_result(self) -> Result<ScanResult, String> {
        let verdict = match self.verdict.as_str() {
            "malicious" => Verdict::Malicious,
            "benign" => Verdict::Benign,
            "suspicious" => Verdict::Suspicious,
            "unknown" => Verdict::Unknown,
            other => {
                return Err(format!(
                    "verdict {other:?} is not one of malicious, benign, suspicious, unknown"
                ))
            }
        };
        let bid = if verdict.asserts() {
            let bid = self
                .bid
                .as_ref()
                .ok_or_else(|| format!("a {} verdict needs a bid", self.verdict))?;
            Some(parse_bid(bid)?)
        } else {
            None
        };
        let confidence = match self.confidence {
            None => 1.0,
            Some(c) if c.is_finite() && (0.0..=1.0).contains(&c) => c,
            Some(c) => return Err(format!("confidence {c} is not between 0 and 1")),
        };
        let mut metadata: ScanMetadata = match self.metadata {
            None | Some(serde_json::Value::Null) => ScanMetadata::default(),
            Some(value) => serde_json::from_value(value)
                .map_err(|e| format!("metadata is not polyswarm-artifact's Verdict: {e}"))?,
        };
        for (key, value) in [("vendor", self.vendor), ("author", self.author)] {
            if let Some(value) = value {
                metadata
                    .extra
                    .entry(key.to_owned())
                    .or_insert(serde_json::Value::String(value));
            }
        }
        Ok(ScanResult {
            verdict,
            confidence,
            metadata: metadata.normalize_family(),
            bid,
        })
    }
}

/// A bid: a positive integer number of wei. One too large for 64 bits
/// arrives as a float and stands for "as much as allowed".
fn parse_bid(bid: &serde_json::Number) -> Result<Amount, String> {
    if let Some(wei) = bid.as_u64() {
        if wei == 0 {
            return Err("the bid must be greater than 0".into());
        }
        return Ok(Amount::from_wei(u128::from(wei)));
    }
    match bid.as_f64() {
        Some(f) if f.is_finite() && f >= u64::MAX as f64 => Ok(Amount::from_wei(u128::MAX)),
        _ => Err(format!("the bid {bid} is not a positive integer of wei")),
    }
}

/// The hex HMAC-SHA256 of `body` keyed with `secret`: the
/// `X-POLYSWARM-SIGNATURE` of a delivery. (HMAC takes a key of any length;
/// the error is the `hmac` crate's general signature.)
pub fn signature(secret: &str, body: &[u8]) -> Result<String, hmac::digest::InvalidLength> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())?;
    mac.update(body);
    Ok(hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_rfc_4231_hmac_sha256() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?").unwrap(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    fn analysis(json: serde_json::Value) -> Result<ScanResult, String> {
        serde_json::from_value::<Analysis>(json)
            .map_err(|e| e.to_string())?
            .into_result()
    }

    #[test]
    fn analyses_become_scan_results() {
        let r = analysis(serde_json::json!({
            "verdict": "malicious", "bid": 250000000000000000u64, "confidence": 0.5,
            "vendor": "ACME",
            "metadata": {"malware_family": "EICAR", "product": "acme",
                         "scanner": {"environment": {"operating_system": "Linux", "architecture": "x86_64"}}}
        }))
        .unwrap();
        assert_eq!(r.verdict, Verdict::Malicious);
        assert_eq!(r.bid, Some(Amount::from_wei(250_000_000_000_000_000)));
        assert_eq!(r.confidence, 0.5);
        assert_eq!(r.metadata.malware_family, "eicar");
        assert_eq!(r.metadata.extra["raw_family"], "EICAR");
        assert_eq!(r.metadata.product.as_deref(), Some("acme"));
        assert_eq!(r.metadata.extra["vendor"], "ACME");

        let r = analysis(serde_json::json!({"verdict": "unknown", "bid": 0})).unwrap();
        assert_eq!((r.verdict, r.bid), (Verdict::Unknown, None));
        let r = analysis(serde_json::json!({"verdict": "benign", "bid": 1e30})).unwrap();
        assert_eq!(r.bid, Some(Amount::from_wei(u128::MAX)));
        assert_eq!(r.confidence, 1.0);
    }

    #[test]
    fn unusable_analyses_say_why() {
        for (json, says) in [
            (
                serde_json::json!({"verdict": "evil", "bid": 1}),
                "not one of",
            ),
            (serde_json::json!({"verdict": "malicious"}), "needs a bid"),
            (
                serde_json::json!({"verdict": "benign", "bid": 0}),
                "greater than 0",
            ),
            (
                serde_json::json!({"verdict": "benign", "bid": -5}),
                "positive integer",
            ),
            (
                serde_json::json!({"verdict": "benign", "bid": 1.5}),
                "positive integer",
            ),
            (
                serde_json::json!({"verdict": "benign", "bid": 1, "confidence": 2.0}),
                "between 0 and 1",
            ),
            (
                serde_json::json!({"verdict": "benign", "bid": 1, "metadata": {"malware_family": 3}}),
                "Verdict",
            ),
        ] {
            let e = analysis(json.clone()).unwrap_err();
            assert!(e.contains(says), "{json}: {e}");
        }
    }
}
