//! How much to stake on a verdict (SPEC §5.3).
//!
//! A [`BidStrategy`] turns the scanner's confidence into a bid per asserted
//! artifact, within the community's bounds. The built-in [`Multiplier`]
//! strategy is the original client's: with `bid_min`/`bid_max` the
//! community's bounds and `c` the confidence,
//! `min = max(bid_min * min_mult, bid_min)`,
//! `max = min(bid_min * max_mult, bid_max)` (a missing multiplier means the
//! community's value), `bid = floor(min + (max - min) * c)` — computed in
//! exact integer arithmetic, to the wei.

use swarm_protocol::{mul_div, Amount};

/// The community's bid bounds per artifact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BidBounds {
    /// `assertion_bid_minimum`.
    pub minimum: Amount,
    /// `assertion_bid_maximum`.
    pub maximum: Amount,
}

/// Chooses the bid on one artifact.
pub trait BidStrategy: Send + Sync + 'static {
    /// The bid for an artifact asserted with `confidence` (0..=1). The
    /// runtime clamps the answer into the community's bounds.
    fn bid(&self, bounds: &BidBounds, confidence: f64) -> Amount;
}

/// The original client's strategies, by their multipliers of `bid_min`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Multiplier {
    /// Lower bound as a multiple of `bid_min`; `None`: `bid_min`.
    pub min_mult: Option<u128>,
    /// Upper bound as a multiple of `bid_min`; `None`: `bid_max`.
    pub max_mult: Option<u128>,
}

impl Multiplier {
    /// `default`: from the minimum to the maximum by confidence.
    pub const DEFAULT: Multiplier = Multiplier {
        min_mult: None,
        max_mult: None,
    };
    /// `aggressive`: at least 8 × the minimum.
    pub const AGGRESSIVE: Multiplier = Multiplier {
        min_mult: Some(8),
        max_mult: None,
    };
    /// `conservative`: always the minimum.
    pub const CONSERVATIVE: Multiplier = Multiplier {
        min_mult: Some(1),
        max_mult: Some(1),
    };

    /// The strategy named `default`, `aggressive` or `conservative`.
    pub fn named(name: &str) -> Option<Multiplier> {
        match name {
            "default" => Some(Self::DEFAULT),
            "aggressive" => Some(Self::AGGRESSIVE),
            "conservative" => Some(Self::CONSERVATIVE),
            _ => None,
        }
    }
}

/// Confidence is taken to this many parts, so the arithmetic stays exact.
const CONFIDENCE_SCALE: u128 = 1_000_000_000_000;

impl BidStrategy for Multiplier {
    fn bid(&self, bounds: &BidBounds, confidence: f64) -> Amount {
        let bid_min = bounds.minimum.wei();
        let bid_max = bounds.maximum.wei();
        let low = match self.min_mult {
            Some(m) => bid_min.saturating_mul(m).max(bid_min),
            None => bid_min,
        };
        let high = match self.max_mult {
            Some(m) => bid_min.saturating_mul(m).min(bid_max),
            None => bid_max,
        };
        let high = high.max(low);
        let c = if confidence.is_nan() {
            0.0
        } else {
            confidence.clamp(0.0, 1.0)
        };
        let parts = (c * CONFIDENCE_SCALE as f64).round() as u128;
        let extra = mul_div(high - low, parts, CONFIDENCE_SCALE).unwrap_or(0);
        Amount::from_wei(low + extra)
    }
}

/// The bid `strategy` makes, clamped into the bounds.
#[allow(dead_code)] // used by the microengine runtime
pub(crate) fn bid_within(
    strategy: &dyn BidStrategy,
    bounds: &BidBounds,
    confidence: f64,
) -> Amount {
    strategy
        .bid(bounds, confidence)
        .max(bounds.minimum)
        .min(bounds.maximum)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds() -> BidBounds {
        BidBounds {
            minimum: Amount::parse_nct("0.0625").unwrap(),
            maximum: Amount::parse_nct("1").unwrap(),
        }
    }

    fn nct(a: Amount) -> String {
        a.to_nct_string()
    }

    // The check vectors of SPEC §5.3.
    #[test]
    fn spec_vectors() {
        let b = bounds();
        assert_eq!(nct(Multiplier::DEFAULT.bid(&b, 0.5)), "0.53125");
        assert_eq!(nct(Multiplier::AGGRESSIVE.bid(&b, 0.5)), "0.75");
        assert_eq!(nct(Multiplier::DEFAULT.bid(&b, 0.75)), "0.765625");
        assert_eq!(nct(Multiplier::DEFAULT.bid(&b, 0.25)), "0.296875");
        assert_eq!(nct(Multiplier::CONSERVATIVE.bid(&b, 0.9)), "0.0625");
    }

    #[test]
    fn ends_and_odd_confidences() {
        let b = bounds();
        assert_eq!(Multiplier::DEFAULT.bid(&b, 0.0), b.minimum);
        assert_eq!(Multiplier::DEFAULT.bid(&b, 1.0), b.maximum);
        assert_eq!(Multiplier::DEFAULT.bid(&b, 7.0), b.maximum);
        assert_eq!(Multiplier::DEFAULT.bid(&b, -1.0), b.minimum);
        assert_eq!(Multiplier::DEFAULT.bid(&b, f64::NAN), b.minimum);
        // An aggressive floor above the maximum collapses to it.
        let tight = BidBounds {
            minimum: b.minimum,
            maximum: Amount::parse_nct("0.25").unwrap(),
        };
        assert_eq!(
            bid_within(&Multiplier::AGGRESSIVE, &tight, 0.5),
            tight.maximum
        );
        assert_eq!(
            Multiplier::named("aggressive"),
            Some(Multiplier::AGGRESSIVE)
        );
        assert_eq!(Multiplier::named("reckless"), None);
    }
}
