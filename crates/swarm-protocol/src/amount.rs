//! NCT amounts.
//!
//! NCT has 18 decimals. Every amount in swarm is an integer count of wei held
//! in a `u128` — never a float — and travels in JSON as a decimal string
//! (`"62500000000000000"`), because JSON numbers lose precision above 2^53 in
//! most client languages. People read and write NCT (`"0.0625"`); [`Amount`]
//! converts between the two exactly.

use std::fmt;
use std::str::FromStr;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// Number of wei in one NCT.
pub const WEI_PER_NCT: u128 = 1_000_000_000_000_000_000;

/// Decimal places of NCT.
pub const NCT_DECIMALS: usize = 18;

/// An amount of NCT, counted in wei.
///
/// `Display` shows NCT with a unit (`0.0625 NCT`), which is what error
/// messages and logs want; [`Amount::to_nct_string`] gives the bare number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(u128);

/// Why a string is not an amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AmountError {
    /// The text is empty.
    #[error("amount is empty")]
    Empty,
    /// The text holds something other than decimal digits (and one point, for NCT).
    #[error("amount {0:?} is not a non-negative decimal number")]
    NotDecimal(String),
    /// More than 18 decimal places were given.
    #[error("amount {0:?} has more than 18 decimal places")]
    TooPrecise(String),
    /// The value does not fit 128 bits of wei.
    #[error("amount {0:?} is too large")]
    Overflow(String),
}

impl Amount {
    /// Zero NCT.
    pub const ZERO: Amount = Amount(0);

    /// An amount of `wei`.
    pub const fn from_wei(wei: u128) -> Self {
        Amount(wei)
    }

    /// `nct` whole NCT. Panics in const contexts if it overflows, which no
    /// realistic constant does (u128 holds 3.4e20 NCT).
    pub const fn from_nct(nct: u128) -> Self {
        Amount(nct * WEI_PER_NCT)
    }

    /// The amount in wei.
    pub const fn wei(self) -> u128 {
        self.0
    }

    /// Whether the amount is zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Parses a decimal count of wei (`"62500000000000000"`).
    pub fn parse_wei(s: &str) -> Result<Self, AmountError> {
        if s.is_empty() {
            return Err(AmountError::Empty);
        }
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AmountError::NotDecimal(s.to_owned()));
        }
        s.parse::<u128>()
            .map(Amount)
            .map_err(|_| AmountError::Overflow(s.to_owned()))
    }

    /// Parses an amount written in NCT (`"0.0625"`, `"12"`, `"1.5 NCT"`).
    pub fn parse_nct(s: &str) -> Result<Self, AmountError> {
        let text = s.trim();
        let text = text.strip_suffix("NCT").map(str::trim_end).unwrap_or(text);
        if text.is_empty() {
            return Err(AmountError::Empty);
        }
        let (whole, frac) = match text.split_once('.') {
            Some((w, f)) => (w, f),
            None => (text, ""),
        };
        let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if (whole.is_empty() && frac.is_empty()) || !digits(whole) || !digits(frac) {
            return Err(AmountError::NotDecimal(s.to_owned()));
        }
        if frac.len() > NCT_DECIMALS {
            return Err(AmountError::TooPrecise(s.to_owned()));
        }
        let overflow = || AmountError::Overflow(s.to_owned());
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| overflow())?
        };
        let mut frac_wei: u128 = 0;
        for (i, b) in frac.bytes().enumerate() {
            frac_wei += u128::from(b - b'0') * 10u128.pow((NCT_DECIMALS - 1 - i) as u32);
        }
        whole
            .checked_mul(WEI_PER_NCT)
            .and_then(|w| w.checked_add(frac_wei))
            .map(Amount)
            .ok_or_else(overflow)
    }

    /// The amount in NCT without a unit and without trailing zeros (`"0.0625"`).
    pub fn to_nct_string(self) -> String {
        let whole = self.0 / WEI_PER_NCT;
        let frac = self.0 % WEI_PER_NCT;
        if frac == 0 {
            return whole.to_string();
        }
        let frac = format!("{frac:018}");
        format!("{whole}.{}", frac.trim_end_matches('0'))
    }

    /// `self + rhs`, or `None` on overflow.
    pub fn checked_add(self, rhs: Amount) -> Option<Amount> {
        self.0.checked_add(rhs.0).map(Amount)
    }

    /// `self - rhs`, or `None` if `rhs` is larger.
    pub fn checked_sub(self, rhs: Amount) -> Option<Amount> {
        self.0.checked_sub(rhs.0).map(Amount)
    }

    /// `self * k`, or `None` on overflow.
    pub fn checked_mul(self, k: u128) -> Option<Amount> {
        self.0.checked_mul(k).map(Amount)
    }

    /// `self - rhs`, clamped at zero.
    pub fn saturating_sub(self, rhs: Amount) -> Amount {
        Amount(self.0.saturating_sub(rhs.0))
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} NCT", self.to_nct_string())
    }
}

impl FromStr for Amount {
    type Err = AmountError;

    /// Parses wei, as in JSON. Use [`Amount::parse_nct`] for NCT.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Amount::parse_wei(s)
    }
}

impl From<u128> for Amount {
    fn from(wei: u128) -> Self {
        Amount(wei)
    }
}

impl std::iter::Sum for Amount {
    /// Sums amounts. Panics on overflow, which needs more than the total supply
    /// u128 can hold; callers summing untrusted values use `checked_add`.
    fn sum<I: Iterator<Item = Amount>>(iter: I) -> Self {
        Amount(iter.map(|a| a.0).sum())
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct WeiVisitor;
        impl de::Visitor<'_> for WeiVisitor {
            type Value = Amount;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an amount of wei as a decimal string, such as \"62500000000000000\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Amount, E> {
                Amount::parse_wei(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(WeiVisitor)
    }
}

/// Serde adapter for amounts written in NCT (`"0.0625"`), as in genesis files
/// that people edit by hand.
pub mod as_nct {
    use super::*;

    /// Serializes `amount` as an NCT decimal string.
    pub fn serialize<S: Serializer>(amount: &Amount, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&amount.to_nct_string())
    }

    /// Deserializes an NCT decimal string.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Amount, D::Error> {
        let text = String::deserialize(deserializer)?;
        Amount::parse_nct(&text).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nct_round_trips_exactly() {
        for (text, wei) in [
            ("0.0625", 62_500_000_000_000_000u128),
            ("0.03125", 31_250_000_000_000_000),
            ("1", WEI_PER_NCT),
            ("10000000", 10_000_000 * WEI_PER_NCT),
            ("0.000000000000000001", 1),
        ] {
            let a = Amount::parse_nct(text).unwrap();
            assert_eq!(a.wei(), wei, "{text}");
            assert_eq!(a.to_nct_string(), text);
        }
        assert_eq!(
            Amount::parse_nct("1.5 NCT").unwrap().wei(),
            1_500_000_000_000_000_000
        );
        assert_eq!(Amount::parse_nct(".5").unwrap().wei(), WEI_PER_NCT / 2);
        assert_eq!(
            Amount::from_wei(62_500_000_000_000_000).to_string(),
            "0.0625 NCT"
        );
    }

    #[test]
    fn rejects_bad_nct_text() {
        assert_eq!(Amount::parse_nct(""), Err(AmountError::Empty));
        assert!(matches!(
            Amount::parse_nct("-1"),
            Err(AmountError::NotDecimal(_))
        ));
        assert!(matches!(
            Amount::parse_nct("1e5"),
            Err(AmountError::NotDecimal(_))
        ));
        assert!(matches!(
            Amount::parse_nct("."),
            Err(AmountError::NotDecimal(_))
        ));
        assert!(matches!(
            Amount::parse_nct("1.2.3"),
            Err(AmountError::NotDecimal(_))
        ));
        assert!(matches!(
            Amount::parse_nct("0.0000000000000000001"),
            Err(AmountError::TooPrecise(_))
        ));
        assert!(matches!(
            Amount::parse_nct("999999999999999999999999"),
            Err(AmountError::Overflow(_))
        ));
    }

    #[test]
    fn json_is_a_decimal_wei_string() {
        let a = Amount::from_wei(62_500_000_000_000_000);
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"62500000000000000\"");
        let back: Amount = serde_json::from_str("\"62500000000000000\"").unwrap();
        assert_eq!(back, a);
        // Numbers, negatives, fractions and overflow are refused with a reason.
        assert!(serde_json::from_str::<Amount>("62500000000000000").is_err());
        let neg = serde_json::from_str::<Amount>("\"-5\"")
            .unwrap_err()
            .to_string();
        assert!(neg.contains("not a non-negative decimal"), "{neg}");
        assert!(serde_json::from_str::<Amount>("\"1.5\"").is_err());
        let big = serde_json::from_str::<Amount>("\"340282366920938463463374607431768211456\"")
            .unwrap_err()
            .to_string();
        assert!(big.contains("too large"), "{big}");
        let max = serde_json::from_str::<Amount>("\"340282366920938463463374607431768211455\"");
        assert_eq!(max.unwrap().wei(), u128::MAX);
    }
}
