//! Exact integer arithmetic for settlement.

/// `floor(a * b / d)` with a 256-bit intermediate product, so that
/// `bid * losers_pot` cannot overflow however large the bids are.
/// Returns `None` when `d == 0` or the quotient does not fit 128 bits.
pub fn mul_div(a: u128, b: u128, d: u128) -> Option<u128> {
    if d == 0 {
        return None;
    }
    if let Some(p) = a.checked_mul(b) {
        return Some(p / d);
    }
    let (hi, lo) = widening_mul(a, b);
    if hi >= d {
        return None;
    }
    // Schoolbook long division of the 256-bit (hi, lo) by d, one bit at a time.
    // The remainder stays below d, so `rem << 1 | bit` needs 129 bits at most:
    // track the bit that shifts out.
    let mut rem = hi;
    let mut quotient: u128 = 0;
    for i in (0..128).rev() {
        let carry = rem >> 127;
        rem = (rem << 1) | ((lo >> i) & 1);
        quotient <<= 1;
        if carry == 1 || rem >= d {
            rem = rem.wrapping_sub(d);
            quotient |= 1;
        }
    }
    Some(quotient)
}

/// The full 256-bit product of two u128, as (high, low) halves.
fn widening_mul(a: u128, b: u128) -> (u128, u128) {
    const MASK: u128 = u64::MAX as u128;
    let (a_hi, a_lo) = (a >> 64, a & MASK);
    let (b_hi, b_lo) = (b >> 64, b & MASK);
    let ll = a_lo * b_lo;
    let lh = a_lo * b_hi;
    let hl = a_hi * b_lo;
    let hh = a_hi * b_hi;
    let mid = (ll >> 64) + (lh & MASK) + (hl & MASK);
    let lo = (ll & MASK) | (mid << 64);
    let hi = hh + (lh >> 64) + (hl >> 64) + (mid >> 64);
    (hi, lo)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn small_values() {
        assert_eq!(mul_div(7, 3, 2), Some(10));
        assert_eq!(mul_div(1, 1, 0), None);
        assert_eq!(mul_div(u128::MAX, u128::MAX, u128::MAX), Some(u128::MAX));
        assert_eq!(mul_div(u128::MAX, 2, 1), None);
        // 1e21 * 1e21 / 1e20 = 1e22: the product alone would overflow.
        let e21 = 10u128.pow(21);
        assert_eq!(mul_div(e21, e21, 10u128.pow(20)), Some(10u128.pow(22)));
    }

    proptest! {
        #[test]
        fn agrees_with_split_arithmetic(a in any::<u64>(), b in any::<u128>(), d in 1..u128::MAX) {
            // a * b / d computed as (a * (b / d)) + (a * (b % d)) / d when it fits.
            let a = u128::from(a);
            if let (Some(x), Some(y)) = (a.checked_mul(b / d), a.checked_mul(b % d)) {
                prop_assert_eq!(mul_div(a, b, d), x.checked_add(y / d));
            }
        }
    }
}
