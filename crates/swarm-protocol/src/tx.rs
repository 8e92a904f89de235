//! Signed transactions (SPEC §3.2).
//!
//! A write is `{"raw": "<json text>", "signature": "0x<r||s||v>"}`. The
//! signature covers keccak-256 of the exact bytes of `raw`, so the node never
//! re-serializes what it verifies: whatever JSON a client produced is what
//! was signed. There is no account nonce; a transaction is unique by its hash
//! and valid only until its `expires` block, which lets a client submit many
//! transactions at once without the nonce bookkeeping that desynchronized
//! the original clients.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::address::Address;
use crate::amount::Amount;
use crate::bits::Bits256;
use crate::error::TxError;
use crate::hash::{keccak256, H256};
use crate::keys::{PrivateKey, Signature};
use crate::Guid;

/// How far ahead of the current block a transaction may expire, and how long
/// its hash is remembered against replay.
pub const MAX_EXPIRY_BLOCKS: u64 = 256;

/// Largest accepted `raw` text. Reveal metadata alone may take 64 KiB.
pub const MAX_RAW_TX_BYTES: usize = 128 * 1024;

/// Largest accepted reveal metadata, serialized.
pub const MAX_REVEAL_METADATA_BYTES: usize = 64 * 1024;

/// The envelope a client submits: the exact signed text and its signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SignedTx {
    /// The JSON text of the transaction, exactly as signed.
    pub raw: String,
    /// Recoverable signature over keccak256 of `raw`.
    pub signature: Signature,
}

/// A decoded transaction: who sends what, where, until when.
#[derive(Clone, Debug, PartialEq)]
pub struct Tx {
    /// The sender; must be the signer.
    pub from: Address,
    /// The community (marketplace) this transaction is meant for.
    pub community: String,
    /// Last block in which the transaction may be included.
    pub expires: u64,
    /// What the transaction does.
    pub body: TxBody,
}

/// A transaction whose signature has been checked against its `from`.
///
/// The only way to get one outside tests is [`SignedTx::verify`], so the
/// registry never sees an unsigned write.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifiedTx {
    tx: Tx,
    hash: H256,
}

impl VerifiedTx {
    /// The transaction.
    pub fn tx(&self) -> &Tx {
        &self.tx
    }

    /// keccak256 of the raw text: the transaction's identity.
    pub fn hash(&self) -> H256 {
        self.hash
    }

    /// The verified sender.
    pub fn from(&self) -> Address {
        self.tx.from
    }

    /// Wraps a transaction without a signature, under a made-up hash. For
    /// tests and benchmarks that exercise the registry rules alone.
    #[cfg(any(test, feature = "test-utils"))]
    pub fn unchecked(tx: Tx) -> Self {
        let hash = keccak256(tx.to_raw());
        VerifiedTx { tx, hash }
    }
}

impl SignedTx {
    /// keccak256 of `raw`.
    pub fn hash(&self) -> H256 {
        keccak256(self.raw.as_bytes())
    }

    /// Decodes `raw`, recovers the signer and checks it is `from`.
    pub fn verify(&self) -> Result<VerifiedTx, TxError> {
        let tx = Tx::from_raw(&self.raw)?;
        let hash = self.hash();
        let signer = self
            .signature
            .recover(&hash)
            .map_err(|e| TxError::BadSignature(e.to_string()))?;
        if signer != tx.from {
            return Err(TxError::WrongSigner {
                from: tx.from,
                signer,
            });
        }
        Ok(VerifiedTx { tx, hash })
    }

    /// Parses the JSON envelope `{"raw": ..., "signature": ...}`.
    pub fn from_json(text: &str) -> Result<Self, TxError> {
        serde_json::from_str(text).map_err(|e| TxError::Malformed(e.to_string()))
    }
}

/// The name of the signed permission to upload artifacts (SPEC §4).
pub const UPLOAD_AUTH_NAME: &str = "artifacts:Upload";

/// `artifacts:Upload`: the signed permission, sent in the `Authorization`
/// header of `POST /artifacts`, to upload the artifacts with these sha256s.
/// It uses the transaction envelope (so the same keys and signing code
/// serve), but it is not a registry transaction and is never included.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadAuth {
    /// Lowercase hex sha256 of every artifact the upload will carry.
    pub sha256s: Vec<String>,
}

/// An upload permission whose signature was checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedUpload {
    /// The uploader.
    pub from: Address,
    /// The community the permission is for.
    pub community: String,
    /// Last block in which it may be used.
    pub expires: u64,
    /// What it permits.
    pub auth: UploadAuth,
}

impl UploadAuth {
    /// Signs the permission as `key` for `community`, valid through block `expires`.
    pub fn sign(&self, key: &PrivateKey, community: &str, expires: u64) -> SignedTx {
        let out = WireTxOut {
            name: UPLOAD_AUTH_NAME,
            from: &key.address(),
            community,
            expires,
            data: self,
        };
        // Strings only: serialization cannot fail.
        let raw = serde_json::to_string(&out).unwrap_or_default();
        let signature = key.sign_hash(&keccak256(raw.as_bytes()));
        SignedTx { raw, signature }
    }
}

impl SignedTx {
    /// Decodes and verifies an `artifacts:Upload` permission.
    pub fn verify_upload(&self) -> Result<VerifiedUpload, TxError> {
        if self.raw.len() > MAX_RAW_TX_BYTES {
            return Err(TxError::TooLarge {
                size: self.raw.len(),
                max: MAX_RAW_TX_BYTES,
            });
        }
        crate::admission::check_json(&self.raw)?;
        let wire: WireTx<'_> =
            serde_json::from_str(&self.raw).map_err(|e| TxError::Malformed(e.to_string()))?;
        if wire.name != UPLOAD_AUTH_NAME {
            return Err(TxError::UnknownName(wire.name));
        }
        let auth: UploadAuth = serde_json::from_str(wire.data.get())
            .map_err(|e| TxError::Malformed(format!("data of {UPLOAD_AUTH_NAME}: {e}")))?;
        let signer = self
            .signature
            .recover(&self.hash())
            .map_err(|e| TxError::BadSignature(e.to_string()))?;
        if signer != wire.from {
            return Err(TxError::WrongSigner {
                from: wire.from,
                signer,
            });
        }
        Ok(VerifiedUpload {
            from: wire.from,
            community: wire.community,
            expires: wire.expires,
            auth,
        })
    }
}

/// The wire form of a transaction, before its data is decoded by name.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireTx<'a> {
    name: String,
    from: Address,
    community: String,
    expires: u64,
    #[serde(borrow)]
    data: &'a RawValue,
}

#[derive(Serialize)]
struct WireTxOut<'a, D: Serialize> {
    name: &'static str,
    from: &'a Address,
    community: &'a str,
    expires: u64,
    data: &'a D,
}

impl Tx {
    /// A transaction from `from` to `community`, valid through block `expires`.
    pub fn new(
        from: Address,
        community: impl Into<String>,
        expires: u64,
        body: impl Into<TxBody>,
    ) -> Self {
        Tx {
            from,
            community: community.into(),
            expires,
            body: body.into(),
        }
    }

    /// The transaction's name, such as `bounty:Post`.
    pub fn name(&self) -> &'static str {
        self.body.name()
    }

    /// Decodes the raw JSON text of a transaction.
    pub fn from_raw(raw: &str) -> Result<Self, TxError> {
        if raw.len() > MAX_RAW_TX_BYTES {
            return Err(TxError::TooLarge {
                size: raw.len(),
                max: MAX_RAW_TX_BYTES,
            });
        }
        let wire: WireTx<'_> =
            serde_json::from_str(raw).map_err(|e| TxError::Malformed(e.to_string()))?;
        let body = TxBody::decode(&wire.name, wire.data)?;
        Ok(Tx {
            from: wire.from,
            community: wire.community,
            expires: wire.expires,
            body,
        })
    }

    /// The canonical JSON text of this transaction (what [`Tx::sign`] signs).
    pub fn to_raw(&self) -> String {
        self.body.encode(self)
    }

    /// Serializes and signs. `key` should be the key of `from`; if it is not,
    /// the node will refuse the transaction.
    pub fn sign(&self, key: &PrivateKey) -> SignedTx {
        let raw = self.to_raw();
        let signature = key.sign_hash(&keccak256(raw.as_bytes()));
        SignedTx { raw, signature }
    }
}

/// One transaction kind: its name and its `data` object.
pub trait TxKind: Serialize + DeserializeOwned + Into<TxBody> {
    /// The name on the wire, such as `bounty:Assert`.
    const NAME: &'static str;
}

macro_rules! tx_kinds {
    ($( $(#[$doc:meta])* $variant:ident($ty:ident) = $name:literal, )*) => {
        /// The action of a transaction, one variant per transaction name.
        #[derive(Clone, Debug, PartialEq)]
        #[non_exhaustive]
        pub enum TxBody {
            $( $(#[$doc])* $variant($ty), )*
        }

        $(
            impl TxKind for $ty {
                const NAME: &'static str = $name;
            }
            impl From<$ty> for TxBody {
                fn from(data: $ty) -> TxBody {
                    TxBody::$variant(data)
                }
            }
        )*

        impl TxBody {
            /// The transaction name, such as `bounty:Post`.
            pub fn name(&self) -> &'static str {
                match self {
                    $( TxBody::$variant(_) => $name, )*
                }
            }

            /// Every transaction name, in a fixed order.
            pub const NAMES: &'static [&'static str] = &[$($name),*];

            fn decode(name: &str, data: &RawValue) -> Result<TxBody, TxError> {
                match name {
                    $( $name => serde_json::from_str::<$ty>(data.get())
                        .map(TxBody::$variant)
                        .map_err(|e| TxError::Malformed(format!("data of {}: {e}", $name))), )*
                    other => Err(TxError::UnknownName(other.to_owned())),
                }
            }

            fn encode(&self, tx: &Tx) -> String {
                match self {
                    $( TxBody::$variant(data) => wire_json(tx, $name, data), )*
                }
            }
        }
    };
}

fn wire_json<D: Serialize>(tx: &Tx, name: &'static str, data: &D) -> String {
    let out = WireTxOut {
        name,
        from: &tx.from,
        community: &tx.community,
        expires: tx.expires,
        data,
    };
    // Serializing plain structs of strings, numbers and JSON values cannot fail.
    serde_json::to_string(&out).unwrap_or_default()
}

tx_kinds! {
    /// Move NCT between accounts.
    Transfer(Transfer) = "nct:Transfer",
    /// Create NCT (owner, or anyone under a dev faucet).
    Mint(Mint) = "nct:Mint",
    /// Post a bounty on an artifact bundle.
    PostBounty(PostBounty) = "bounty:Post",
    /// Commit to verdicts on a bounty's artifacts, with bids.
    Assert(Assert) = "bounty:Assert",
    /// Reveal the verdicts behind an assertion's commitment.
    Reveal(Reveal) = "bounty:Reveal",
    /// An arbiter's ground-truth vote.
    Vote(Vote) = "bounty:Vote",
    /// An arbiter stakes NCT.
    StakeDeposit(StakeDeposit) = "staking:Deposit",
    /// Withdraw matured stake.
    StakeWithdraw(StakeWithdraw) = "staking:Withdraw",
    /// Owner: change the bounty and assertion fees.
    SetFees(SetFees) = "community:SetFees",
    /// Owner: change the reveal and vote windows.
    SetWindows(SetWindows) = "community:SetWindows",
    /// Owner: whitelist an arbiter.
    AddArbiter(AddArbiter) = "community:AddArbiter",
    /// Owner: remove an arbiter from the whitelist.
    RemoveArbiter(RemoveArbiter) = "community:RemoveArbiter",
    /// Owner: stop new bounties.
    Deprecate(Deprecate) = "community:Deprecate",
    /// Owner: accept new bounties again.
    Undeprecate(Undeprecate) = "community:Undeprecate",
}

/// `nct:Transfer`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    /// Recipient.
    pub to: Address,
    /// Amount moved.
    pub amount: Amount,
}

/// `nct:Mint`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mint {
    /// Recipient of the new NCT.
    pub to: Address,
    /// Amount created.
    pub amount: Amount,
}

/// Whether a bounty's artifacts are files or URLs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ArtifactType {
    /// Files, fetched from the node's artifact store (the default).
    #[default]
    File,
    /// URLs.
    Url,
}

/// Per-artifact metadata of a bounty: what engines filter on before they
/// download anything.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArtifactMetadata {
    /// File name as submitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// Size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filesize: Option<u64>,
    /// MIME type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mimetype: Option<String>,
    /// Hex sha256 of the content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Hex sha1 of the content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    /// Hex md5 of the content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    /// The URL, for URL artifacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// The URL's protocol, for URL artifacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Anything else the ambassador attached.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// `bounty:Post` (SPEC §3.5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostBounty {
    /// A fresh UUID v4 naming the bounty.
    pub guid: Guid,
    /// Files or URLs.
    pub artifact_type: ArtifactType,
    /// Reward, escrowed until settlement.
    pub amount: Amount,
    /// sha256 (64 hex digits) of the artifact bundle's manifest.
    pub uri: String,
    /// Number of artifacts in the bundle.
    pub num_artifacts: u32,
    /// Blocks of the assertion round.
    pub duration: u64,
    /// One entry per artifact, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Vec<ArtifactMetadata>>,
}

/// `bounty:Assert` (SPEC §3.6).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assert {
    /// The bounty.
    pub bounty_guid: Guid,
    /// Bit i: this assertion covers artifact i.
    pub mask: Bits256,
    /// One bid per mask bit, in ascending bit order.
    pub bids: Vec<Amount>,
    /// See [`crate::commitment`].
    pub commitment: H256,
}

/// `bounty:Reveal` (SPEC §3.7).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reveal {
    /// The bounty.
    pub bounty_guid: Guid,
    /// The nonce the commitment was made with.
    pub nonce: H256,
    /// Bit i: artifact i is malicious.
    pub verdicts: Bits256,
    /// Per-artifact scan metadata (SPEC §5.2), at most 64 KiB serialized.
    #[serde(default)]
    pub metadata: serde_json::Value,
}

/// `bounty:Vote` (SPEC §3.8).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vote {
    /// The bounty.
    pub bounty_guid: Guid,
    /// Bit i: artifact i is malicious.
    pub votes: Bits256,
}

/// `staking:Deposit`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StakeDeposit {
    /// Amount staked.
    pub amount: Amount,
}

/// `staking:Withdraw`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StakeWithdraw {
    /// Amount withdrawn.
    pub amount: Amount,
}

/// `community:SetFees`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetFees {
    /// New bounty fee.
    pub bounty_fee: Amount,
    /// New assertion fee.
    pub assertion_fee: Amount,
}

/// `community:SetWindows`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetWindows {
    /// New reveal window R, in blocks.
    pub assertion_reveal_window: u64,
    /// New vote window V, in blocks.
    pub arbiter_vote_window: u64,
}

/// `community:AddArbiter`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddArbiter {
    /// The arbiter to whitelist.
    pub arbiter: Address,
}

/// `community:RemoveArbiter`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveArbiter {
    /// The arbiter to remove.
    pub arbiter: Address,
}

/// `community:Deprecate` (SPEC §3.10).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deprecate {
    /// Whether stakes roll over to a successor community (and so keep their
    /// usual lock) rather than being released.
    #[serde(default)]
    pub rollover: bool,
}

/// `community:Undeprecate`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Undeprecate {}

#[cfg(test)]
mod tests {
    use super::*;

    fn transfer(key: &PrivateKey) -> Tx {
        Tx::new(
            key.address(),
            "dev",
            10,
            Transfer {
                to: Address([1; 20]),
                amount: Amount::from_nct(2),
            },
        )
    }

    #[test]
    fn sign_verify_round_trip() {
        let key = PrivateKey::random();
        let tx = transfer(&key);
        let signed = tx.sign(&key);
        assert!(
            signed
                .raw
                .starts_with(r#"{"name":"nct:Transfer","from":"0x"#),
            "{}",
            signed.raw
        );
        let verified = signed.verify().unwrap();
        assert_eq!(verified.tx(), &tx);
        assert_eq!(verified.from(), key.address());
        assert_eq!(verified.hash(), keccak256(signed.raw.as_bytes()));
        let json = serde_json::to_string(&signed).unwrap();
        assert_eq!(SignedTx::from_json(&json).unwrap(), signed);
    }

    #[test]
    fn a_signature_by_another_key_is_refused() {
        let key = PrivateKey::random();
        let thief = PrivateKey::random();
        let forged = SignedTx {
            raw: transfer(&key).to_raw(),
            signature: transfer(&key).sign(&thief).signature,
        };
        let err = forged.verify().unwrap_err();
        assert!(matches!(err, TxError::WrongSigner { .. }), "{err}");
        // Tampering with the text after signing breaks it too.
        let mut tampered = transfer(&key).sign(&key);
        tampered.raw = tampered
            .raw
            .replace("2000000000000000000", "9000000000000000000");
        assert!(matches!(
            tampered.verify(),
            Err(TxError::WrongSigner { .. })
        ));
        // A truncated signature is not even an envelope.
        let sig = transfer(&key).sign(&key).signature.to_string();
        let text = format!(r#"{{"raw":"{{}}","signature":"{}"}}"#, &sig[..100]);
        assert!(matches!(
            SignedTx::from_json(&text),
            Err(TxError::Malformed(_))
        ));
    }

    #[test]
    fn decoding_names_what_is_wrong() {
        let from = Address([2; 20]);
        let raw = format!(
            r#"{{"name":"bounty:Steal","from":"{from}","community":"dev","expires":1,"data":{{}}}}"#
        );
        assert_eq!(
            Tx::from_raw(&raw),
            Err(TxError::UnknownName("bounty:Steal".into()))
        );
        let raw = format!(
            r#"{{"name":"nct:Transfer","from":"{from}","community":"dev","expires":1,"data":{{"to":"{from}"}}}}"#
        );
        let err = Tx::from_raw(&raw).unwrap_err().to_string();
        assert!(
            err.contains("data of nct:Transfer") && err.contains("amount"),
            "{err}"
        );
        let raw = format!(
            r#"{{"name":"nct:Transfer","from":"{from}","community":"dev","expires":1,"data":{{"to":"{from}","amount":"-1"}}}}"#
        );
        let err = Tx::from_raw(&raw).unwrap_err().to_string();
        assert!(err.contains("not a non-negative decimal"), "{err}");
        let huge = "x".repeat(MAX_RAW_TX_BYTES + 1);
        assert!(matches!(Tx::from_raw(&huge), Err(TxError::TooLarge { .. })));
    }

    #[test]
    fn upload_permission_signs_and_verifies() {
        let key = PrivateKey::random();
        let auth = UploadAuth {
            sha256s: vec!["ab".repeat(32)],
        };
        let signed = auth.sign(&key, "dev", 12);
        let v = signed.verify_upload().unwrap();
        assert_eq!(
            (v.from, v.community.as_str(), v.expires),
            (key.address(), "dev", 12)
        );
        assert_eq!(v.auth, auth);
        // It is not a transaction, and a transaction is not a permission.
        assert_eq!(
            signed.verify(),
            Err(TxError::UnknownName(UPLOAD_AUTH_NAME.into()))
        );
        let transfer = transfer(&key).sign(&key);
        assert!(matches!(
            transfer.verify_upload(),
            Err(TxError::UnknownName(_))
        ));
        let mut forged = signed.clone();
        forged.signature = auth.sign(&PrivateKey::random(), "dev", 12).signature;
        assert!(matches!(
            forged.verify_upload(),
            Err(TxError::WrongSigner { .. })
        ));
    }

    #[test]
    fn every_kind_round_trips_through_raw() {
        let from = Address([3; 20]);
        let guid = Guid::from_u128(7);
        let bodies: Vec<TxBody> = vec![
            Transfer {
                to: from,
                amount: Amount::from_wei(1),
            }
            .into(),
            Mint {
                to: from,
                amount: Amount::from_wei(1),
            }
            .into(),
            PostBounty {
                guid,
                artifact_type: ArtifactType::File,
                amount: Amount::from_nct(1),
                uri: "ab".repeat(32),
                num_artifacts: 1,
                duration: 5,
                metadata: Some(vec![ArtifactMetadata {
                    filename: Some("a.exe".into()),
                    ..Default::default()
                }]),
            }
            .into(),
            Assert {
                bounty_guid: guid,
                mask: Bits256::from_indices([0]),
                bids: vec![Amount::from_nct(1)],
                commitment: keccak256(b"c"),
            }
            .into(),
            Reveal {
                bounty_guid: guid,
                nonce: keccak256(b"n"),
                verdicts: Bits256::from_indices([0]),
                metadata: serde_json::json!([{"malware_family": "EICAR"}]),
            }
            .into(),
            Vote {
                bounty_guid: guid,
                votes: Bits256::EMPTY,
            }
            .into(),
            StakeDeposit {
                amount: Amount::from_wei(1),
            }
            .into(),
            StakeWithdraw {
                amount: Amount::from_wei(1),
            }
            .into(),
            SetFees {
                bounty_fee: Amount::ZERO,
                assertion_fee: Amount::ZERO,
            }
            .into(),
            SetWindows {
                assertion_reveal_window: 1,
                arbiter_vote_window: 2,
            }
            .into(),
            AddArbiter { arbiter: from }.into(),
            RemoveArbiter { arbiter: from }.into(),
            Deprecate { rollover: true }.into(),
            Undeprecate {}.into(),
        ];
        assert_eq!(bodies.len(), TxBody::NAMES.len());
        for body in bodies {
            let tx = Tx::new(from, "dev", 9, body);
            assert_eq!(Tx::from_raw(&tx.to_raw()).unwrap(), tx, "{}", tx.name());
        }
    }
}
