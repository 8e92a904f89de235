//! secp256k1 keys and recoverable signatures, by libsecp256k1.
//!
//! The node recovers the signer of every transaction, which makes recovery
//! the sequencer's hottest path; libsecp256k1 recovers about five times as
//! fast as the pure-Rust alternatives (see `docs/BENCHMARKS.md`).

use std::fmt;
use std::str::FromStr;

use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::{Message, PublicKey, SecretKey, SECP256K1};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::address::Address;
use crate::hash::H256;
use crate::hex_text::{decode_fixed, HexError};

/// A secp256k1 private key: an account.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKey(SecretKey);

/// Why bytes or text are not a key or a signature, or a signature does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Not valid hex of the right length.
    #[error(transparent)]
    Hex(#[from] HexError),
    /// 32 bytes that are zero or not below the curve order.
    #[error("private key is not a valid secp256k1 scalar")]
    InvalidPrivateKey,
    /// The recovery byte `v` is not 0, 1, 27 or 28.
    #[error("signature recovery byte v = {0} is not 0, 1, 27 or 28")]
    InvalidRecoveryId(u8),
    /// r or s are out of range, or no public key recovers from them.
    #[error("signature is malformed or recovers no public key")]
    InvalidSignature,
    /// `s` in the upper half of the curve order: a malleated signature.
    #[error("signature s value is in the upper half of the curve order (not canonical)")]
    HighS,
}

impl PrivateKey {
    /// A fresh random key from the operating system's generator.
    pub fn random() -> Self {
        PrivateKey(SecretKey::new(&mut rand::rngs::OsRng))
    }

    /// The key of 32 big-endian bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        SecretKey::from_slice(bytes)
            .map(PrivateKey)
            .map_err(|_| KeyError::InvalidPrivateKey)
    }

    /// The 32 big-endian bytes. Handle with care.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.secret_bytes()
    }

    /// The account address of this key.
    pub fn address(&self) -> Address {
        let public = PublicKey::from_secret_key(SECP256K1, &self.0);
        let full = public.serialize_uncompressed();
        let mut xy = [0u8; 64];
        xy.copy_from_slice(&full[1..]);
        Address::from_public_key_bytes(&xy)
    }

    /// Signs a 32-byte digest (RFC 6979 deterministic nonce, low s).
    pub fn sign_hash(&self, digest: &H256) -> Signature {
        let message = Message::from_digest(digest.0);
        let sig = SECP256K1.sign_ecdsa_recoverable(&message, &self.0);
        let (rec_id, rs) = sig.serialize_compact();
        let mut bytes = [0u8; 65];
        bytes[..64].copy_from_slice(&rs);
        bytes[64] = 27 + i32::from(rec_id) as u8;
        Signature(bytes)
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret itself.
        write!(f, "PrivateKey({})", self.address())
    }
}

impl FromStr for PrivateKey {
    type Err = KeyError;
    /// Parses `0x` and 64 hex digits.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PrivateKey::from_bytes(&decode_fixed::<32>(s)?)
    }
}

/// A 65-byte recoverable signature `r || s || v`, `v` in {27, 28}.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; 65]);

impl Signature {
    /// The address whose key made this signature over `digest`.
    ///
    /// Rejects signatures with a high `s`, so each message has exactly one
    /// valid signature per key.
    pub fn recover(&self, digest: &H256) -> Result<Address, KeyError> {
        let v = self.0[64];
        let rec = match v {
            0 | 1 => v,
            27 | 28 => v - 27,
            other => return Err(KeyError::InvalidRecoveryId(other)),
        };
        let rec_id =
            RecoveryId::try_from(i32::from(rec)).map_err(|_| KeyError::InvalidRecoveryId(v))?;
        let sig = RecoverableSignature::from_compact(&self.0[..64], rec_id)
            .map_err(|_| KeyError::InvalidSignature)?;
        let standard = sig.to_standard();
        let mut normalized = standard;
        normalized.normalize_s();
        if normalized != standard {
            return Err(KeyError::HighS);
        }
        let public = SECP256K1
            .recover_ecdsa(&Message::from_digest(digest.0), &sig)
            .map_err(|_| KeyError::InvalidSignature)?;
        let full = public.serialize_uncompressed();
        let mut xy = [0u8; 64];
        xy.copy_from_slice(&full[1..]);
        Ok(Address::from_public_key_bytes(&xy))
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8; 65] {
        &self.0
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Signature {
    type Err = HexError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        decode_fixed::<65>(s).map(Signature)
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::hex_text::deserialize_from_str(deserializer, "a 65-byte 0x-prefixed hex signature")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::keccak256;

    #[test]
    fn address_of_a_known_key() {
        // Private key 1 is the generator point; its address is well known.
        let mut one = [0u8; 32];
        one[31] = 1;
        let key = PrivateKey::from_bytes(&one).unwrap();
        assert_eq!(
            key.address().to_string(),
            "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
        );
    }

    #[test]
    fn sign_then_recover() {
        let key = PrivateKey::random();
        let digest = keccak256(b"hello");
        let sig = key.sign_hash(&digest);
        assert!(sig.0[64] == 27 || sig.0[64] == 28);
        assert_eq!(sig.recover(&digest).unwrap(), key.address());
        // A different message recovers a different signer.
        assert_ne!(sig.recover(&keccak256(b"hellO")).unwrap(), key.address());
    }

    #[test]
    fn rejects_malformed_signatures() {
        let key = PrivateKey::random();
        let digest = keccak256(b"x");
        let mut sig = key.sign_hash(&digest);
        sig.0[64] = 29;
        assert_eq!(sig.recover(&digest), Err(KeyError::InvalidRecoveryId(29)));
        let zero = Signature([0; 65]);
        assert!(zero.recover(&digest).is_err());
    }

    #[test]
    fn rejects_high_s() {
        // n - s gives the malleated twin of a valid signature.
        const N: [u8; 32] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c,
            0xd0, 0x36, 0x41, 0x41,
        ];
        let key = PrivateKey::random();
        let digest = keccak256(b"y");
        let sig = key.sign_hash(&digest);
        let mut twin = sig;
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let d = i16::from(N[i]) - i16::from(sig.0[32 + i]) - borrow;
            twin.0[32 + i] = d.rem_euclid(256) as u8;
            borrow = i16::from(d < 0);
        }
        twin.0[64] = if sig.0[64] == 27 { 28 } else { 27 };
        assert_eq!(twin.recover(&digest), Err(KeyError::HighS));
    }
}
