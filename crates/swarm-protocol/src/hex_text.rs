//! `0x`-prefixed hex text, shared by hashes, addresses, signatures and bitmasks.

use std::fmt;
use std::str::FromStr;

use serde::{de, Deserializer};

/// Why a text is not the hex value expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HexError {
    /// The `0x` prefix is missing.
    #[error("{0:?} does not start with 0x")]
    MissingPrefix(String),
    /// A character is not a hex digit, or the digit count is odd.
    #[error("{0:?} is not valid hex")]
    Invalid(String),
    /// The value has the wrong number of bytes.
    #[error("{text:?} has {got} bytes, expected {expected}")]
    Length {
        /// The text as given (shortened when long).
        text: String,
        /// Bytes found.
        got: usize,
        /// Bytes expected.
        expected: usize,
    },
}

fn shorten(s: &str) -> String {
    if s.len() > 80 {
        let cut = (0..=80).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
        format!("{}…", &s[..cut])
    } else {
        s.to_owned()
    }
}

/// Strips the `0x` prefix.
pub(crate) fn strip_prefix(s: &str) -> Result<&str, HexError> {
    s.strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .ok_or_else(|| HexError::MissingPrefix(shorten(s)))
}

/// Decodes `0x` hex of any even length.
pub(crate) fn decode(s: &str) -> Result<Vec<u8>, HexError> {
    hex::decode(strip_prefix(s)?).map_err(|_| HexError::Invalid(shorten(s)))
}

/// Decodes `0x` hex of exactly `N` bytes.
pub(crate) fn decode_fixed<const N: usize>(s: &str) -> Result<[u8; N], HexError> {
    let bytes = decode(s)?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| HexError::Length {
        text: shorten(s),
        got: bytes.len(),
        expected: N,
    })
}

/// Deserializes a string through `FromStr`, keeping its error message.
pub(crate) fn deserialize_from_str<'de, D, T>(
    deserializer: D,
    expecting: &'static str,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    struct V<T>(&'static str, std::marker::PhantomData<T>);
    impl<T> de::Visitor<'_> for V<T>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            v.parse().map_err(E::custom)
        }
    }
    deserializer.deserialize_str(V(expecting, std::marker::PhantomData))
}
