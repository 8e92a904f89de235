//! The statistics every bench reports with, in one place: medians and
//! quantiles of timings, means, and the units they are printed in.

use std::time::Duration;

/// The `p` quantile (0..=1) of latencies weighted by counts: nearest rank.
pub(crate) fn weighted_quantile(samples: &mut [(Duration, usize)], p: f64) -> Duration {
    samples.sort_by_key(|s| s.0);
    let total: usize = samples.iter().map(|s| s.1).sum();
    if total == 0 {
        return Duration::ZERO;
    }
    let rank = ((p * total as f64).ceil() as usize).clamp(1, total);
    let mut seen = 0;
    for (latency, weight) in samples.iter() {
        seen += weight;
        if seen >= rank {
            return *latency;
        }
    }
    samples.last().map(|s| s.0).unwrap_or_default()
}

/// The median of `values` (the mean of the middle two for an even count;
/// NaN for none). Sorts them.
pub(crate) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// The arithmetic mean (0 for none).
pub(crate) fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

/// Milliseconds, fractional.
pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Megabytes (10^6 bytes) per second.
pub(crate) fn mb_per_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64().max(f64::MIN_POSITIVE) / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_weight_each_transaction() {
        let ms = Duration::from_millis;
        let mut per_request = vec![(ms(10), 1), (ms(30), 1), (ms(20), 1), (ms(40), 1)];
        assert_eq!(weighted_quantile(&mut per_request, 0.5), ms(20));
        assert_eq!(weighted_quantile(&mut per_request, 0.99), ms(40));
        // One slow batch of 97 transactions dominates the per-transaction view.
        let mut per_tx = vec![(ms(10), 1), (ms(20), 1), (ms(30), 1), (ms(90), 97)];
        assert_eq!(weighted_quantile(&mut per_tx, 0.5), ms(90));
        assert_eq!(weighted_quantile(&mut [], 0.5), Duration::ZERO);
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }
}
