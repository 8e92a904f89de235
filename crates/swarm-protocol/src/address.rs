//! Ethereum addresses with EIP-55 checksums.
//!
//! An account is a secp256k1 key; its address is the last 20 bytes of the
//! keccak-256 of the uncompressed public key, exactly as on Ethereum, so that
//! existing PolySwarm key files keep their identities.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::hash::keccak256;
use crate::hex_text::{decode_fixed, strip_prefix, HexError};

/// A 20-byte account address. Displays EIP-55 checksummed.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address(pub [u8; 20]);

/// Why a text is not an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// Not 20 bytes of `0x` hex.
    #[error("invalid address: {0}")]
    Hex(#[from] HexError),
    /// Mixed-case text whose case does not match its EIP-55 checksum: almost
    /// certainly a typo, and sending to it would lose the funds.
    #[error("address {0} has a wrong EIP-55 checksum (expected {1})")]
    Checksum(String, Address),
}

impl Address {
    /// The zero address.
    pub const ZERO: Address = Address([0; 20]);

    /// The address of a 64-byte uncompressed public key (without the 0x04 tag).
    pub fn from_public_key_bytes(xy: &[u8; 64]) -> Address {
        let hash = keccak256(xy);
        let mut out = [0u8; 20];
        out.copy_from_slice(&hash.0[12..]);
        Address(out)
    }

    /// The address as a 32-byte big-endian word (left-padded), as it enters
    /// the commitment.
    pub fn to_word(&self) -> [u8; 32] {
        let mut word = [0u8; 32];
        word[12..].copy_from_slice(&self.0);
        word
    }

    /// The EIP-55 checksummed form, `0x` and 40 hex digits.
    pub fn to_checksum(&self) -> String {
        let slot = usize::from(self.0[19]) % CHECKSUM_CACHE;
        RECENT_CHECKSUMS.with_borrow_mut(|recent| match &recent[slot] {
            Some((address, text)) if address == self => text.clone(),
            _ => {
                let text = self.compute_checksum();
                recent[slot] = Some((*self, text.clone()));
                text
            }
        })
    }

    fn compute_checksum(&self) -> String {
        let lower = hex::encode(self.0);
        let hash = keccak256(lower.as_bytes());
        let mut out = String::with_capacity(42);
        out.push_str("0x");
        for (i, c) in lower.chars().enumerate() {
            let nibble = (hash.0[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0x0f;
            if c.is_ascii_alphabetic() && nibble >= 8 {
                out.push(c.to_ascii_uppercase());
            } else {
                out.push(c);
            }
        }
        out
    }
}

/// Slots of [`RECENT_CHECKSUMS`].
const CHECKSUM_CACHE: usize = 64;

thread_local! {
    /// The last checksummed form per slot, on each thread. A node writes and
    /// reads the same few senders (its engines, ambassadors and arbiters)
    /// thousands of times a second, and every EIP-55 form costs a keccak;
    /// an address's last byte picks its slot.
    static RECENT_CHECKSUMS: std::cell::RefCell<[Option<(Address, String)>; CHECKSUM_CACHE]> =
        const { std::cell::RefCell::new([const { None }; CHECKSUM_CACHE]) };
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_checksum())
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_checksum())
    }
}

impl FromStr for Address {
    type Err = AddressError;

    /// Accepts all-lowercase, all-uppercase or correctly checksummed text.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let address = Address(decode_fixed::<20>(s)?);
        let digits = strip_prefix(s)?;
        let has_lower = digits.chars().any(|c| c.is_ascii_lowercase());
        let has_upper = digits.chars().any(|c| c.is_ascii_uppercase());
        if has_lower && has_upper && address.to_checksum()[2..] != *digits {
            return Err(AddressError::Checksum(s.to_owned(), address));
        }
        Ok(address)
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_checksum())
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::hex_text::deserialize_from_str(deserializer, "a 0x-prefixed 20-byte address")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The examples of EIP-55 itself.
    const EIP55: [&str; 4] = [
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    ];

    #[test]
    fn checksums_match_eip55() {
        for text in EIP55 {
            let a: Address = text.to_lowercase().parse().unwrap();
            assert_eq!(a.to_string(), text);
            assert_eq!(text.parse::<Address>().unwrap(), a);
        }
    }

    #[test]
    fn rejects_a_wrong_checksum_and_bad_hex() {
        let typo = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD";
        let err = typo.parse::<Address>().unwrap_err();
        assert!(matches!(err, AddressError::Checksum(..)), "{err}");
        assert!("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"
            .parse::<Address>()
            .is_err());
        assert!("0x5aaeb6053f3e94c9b9a09f33669435e7ef1bea"
            .parse::<Address>()
            .is_err());
        assert!("0xzzaeb6053f3e94c9b9a09f33669435e7ef1beaed"
            .parse::<Address>()
            .is_err());
        let upper = "0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED";
        assert_eq!(upper.parse::<Address>().unwrap().to_string(), EIP55[0]);
    }

    #[test]
    fn addresses_sharing_a_cache_slot_keep_their_own_checksums() {
        // Same last byte, so the same slot: each must evict the other, never
        // be answered with the other's text.
        let mut a = Address([0xab; 20]);
        let mut b = Address([0xcd; 20]);
        a.0[19] = 7;
        b.0[19] = 7;
        for _ in 0..3 {
            assert_eq!(a.to_checksum(), a.compute_checksum());
            assert_eq!(b.to_checksum(), b.compute_checksum());
        }
        assert_ne!(a.to_checksum(), b.to_checksum());
        for text in EIP55 {
            let address: Address = text.parse().unwrap();
            assert_eq!(address.to_checksum(), text);
            assert_eq!(address.to_checksum(), text);
        }
    }
}
