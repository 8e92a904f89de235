//! Keccak-256, the hash of every identity, commitment and transaction in swarm.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha3::{Digest, Keccak256};

use crate::hex_text::{decode_fixed, HexError};

/// A 32-byte hash or word, shown as `0x` and 64 hex digits.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct H256(pub [u8; 32]);

/// Keccak-256 of `data` (Ethereum's, not NIST SHA3-256).
pub fn keccak256(data: impl AsRef<[u8]>) -> H256 {
    H256(Keccak256::digest(data.as_ref()).into())
}

impl H256 {
    /// The all-zero word.
    pub const ZERO: H256 = H256([0; 32]);

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for H256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for H256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for H256 {
    type Err = HexError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        decode_fixed::<32>(s).map(H256)
    }
}

impl Serialize for H256 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for H256 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::hex_text::deserialize_from_str(deserializer, "a 32-byte 0x-prefixed hex string")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keccak_of_empty_input_is_the_ethereum_constant() {
        assert_eq!(
            keccak256(b"").to_string(),
            "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
    }

    #[test]
    fn parses_and_prints() {
        let h = keccak256(b"swarm");
        assert_eq!(h.to_string().parse::<H256>().unwrap(), h);
        assert!("0x12".parse::<H256>().is_err());
    }
}
