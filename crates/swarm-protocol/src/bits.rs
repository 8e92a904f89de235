//! 256-bit masks: which artifacts an assertion covers, which verdicts are
//! malicious, how an arbiter voted.
//!
//! Bit i is artifact i (least significant bit = artifact 0), as in the
//! original contract's `uint256` masks. In JSON a mask is the `0x` hex of the
//! number (`"0x5"` = artifacts 0 and 2).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::hex_text::{strip_prefix, HexError};

/// A 256-bit set of artifact indices, stored as a big-endian `uint256`.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bits256([u8; 32]);

impl Bits256 {
    /// No bit set.
    pub const EMPTY: Bits256 = Bits256([0; 32]);

    /// From the 32 big-endian bytes of the number.
    pub const fn from_be_bytes(bytes: [u8; 32]) -> Self {
        Bits256(bytes)
    }

    /// The 32 big-endian bytes of the number.
    pub const fn to_be_bytes(self) -> [u8; 32] {
        self.0
    }

    /// A mask with exactly the given bits set. Indices >= 256 are ignored.
    pub fn from_indices(indices: impl IntoIterator<Item = usize>) -> Self {
        let mut bits = Bits256::EMPTY;
        for i in indices {
            bits.set(i, true);
        }
        bits
    }

    /// A mask of the first `n` bits (all artifacts of an n-artifact bounty).
    pub fn first(n: usize) -> Self {
        Bits256::from_indices(0..n.min(256))
    }

    /// A mask from booleans, element i = bit i.
    pub fn from_bools(bools: &[bool]) -> Self {
        Bits256::from_indices(
            bools
                .iter()
                .enumerate()
                .filter(|(_, b)| **b)
                .map(|(i, _)| i),
        )
    }

    /// Whether bit `i` is set (false for i >= 256).
    pub fn get(&self, i: usize) -> bool {
        i < 256 && self.0[31 - i / 8] & (1 << (i % 8)) != 0
    }

    /// Sets or clears bit `i`. Indices >= 256 are ignored.
    pub fn set(&mut self, i: usize, value: bool) {
        if i >= 256 {
            return;
        }
        let byte = &mut self.0[31 - i / 8];
        if value {
            *byte |= 1 << (i % 8);
        } else {
            *byte &= !(1 << (i % 8));
        }
    }

    /// Number of set bits.
    pub fn count(&self) -> usize {
        self.0.iter().map(|b| b.count_ones() as usize).sum()
    }

    /// Whether no bit is set.
    pub fn is_empty(&self) -> bool {
        self.0 == [0; 32]
    }

    /// Set bit indices in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        (0..256).filter(move |i| self.get(*i))
    }

    /// The highest set bit, if any.
    pub fn highest(&self) -> Option<usize> {
        (0..256).rev().find(|i| self.get(*i))
    }

    /// The first `n` bits as booleans.
    pub fn to_bools(&self, n: usize) -> Vec<bool> {
        (0..n).map(|i| self.get(i)).collect()
    }

    /// Bitwise AND.
    pub fn and(&self, other: &Bits256) -> Bits256 {
        self.zip_with(other, |a, b| a & b)
    }

    /// Bitwise OR.
    pub fn or(&self, other: &Bits256) -> Bits256 {
        self.zip_with(other, |a, b| a | b)
    }

    fn zip_with(&self, other: &Bits256, f: impl Fn(u8, u8) -> u8) -> Bits256 {
        let mut out = [0u8; 32];
        for (o, (a, b)) in out.iter_mut().zip(self.0.iter().zip(other.0.iter())) {
            *o = f(*a, *b);
        }
        Bits256(out)
    }
}

impl fmt::Display for Bits256 {
    /// Minimal `0x` hex of the number (`0x0` when empty).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let full = hex::encode(self.0);
        let trimmed = full.trim_start_matches('0');
        write!(f, "0x{}", if trimmed.is_empty() { "0" } else { trimmed })
    }
}

impl fmt::Debug for Bits256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Bits256 {
    type Err = HexError;
    /// Parses `0x` hex of up to 64 digits; odd digit counts are fine (`0x5`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = strip_prefix(s)?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(HexError::Invalid(s.chars().take(80).collect()));
        }
        let digits = digits.trim_start_matches('0');
        if digits.len() > 64 {
            return Err(HexError::Length {
                text: s.chars().take(80).collect(),
                got: digits.len().div_ceil(2),
                expected: 32,
            });
        }
        let padded = format!("{digits:0>64}");
        let mut out = [0u8; 32];
        hex::decode_to_slice(padded, &mut out)
            .map_err(|_| HexError::Invalid(s.chars().take(80).collect()))?;
        Ok(Bits256(out))
    }
}

impl Serialize for Bits256 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Bits256 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::hex_text::deserialize_from_str(deserializer, "a 0x-prefixed hex bitmask")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_zero_is_the_least_significant() {
        let m = Bits256::from_indices([0, 2]);
        assert_eq!(m.to_string(), "0x5");
        assert_eq!(m.count(), 2);
        assert_eq!(m.iter().collect::<Vec<_>>(), vec![0, 2]);
        let top = Bits256::from_indices([255]);
        assert_eq!(top.to_be_bytes()[0], 0x80);
        assert_eq!(top.highest(), Some(255));
        assert_eq!(Bits256::EMPTY.to_string(), "0x0");
    }

    #[test]
    fn parses_hex_masks() {
        assert_eq!(
            "0x5".parse::<Bits256>().unwrap(),
            Bits256::from_indices([0, 2])
        );
        assert_eq!(
            "0x0005".parse::<Bits256>().unwrap(),
            Bits256::from_indices([0, 2])
        );
        assert!("5".parse::<Bits256>().is_err());
        assert!("0x".parse::<Bits256>().is_err());
        assert!("0xg".parse::<Bits256>().is_err());
        assert!(format!("0x1{}", "0".repeat(64)).parse::<Bits256>().is_err());
        let all = Bits256::first(256);
        assert_eq!(all.to_string().parse::<Bits256>().unwrap(), all);
    }
}
