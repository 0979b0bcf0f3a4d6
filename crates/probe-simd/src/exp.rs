//! `exp` of an `f64`, branch-free so that loops over it vectorise (the estimators' KDE kernel and
//! the fused trainer's sigmoid and softmax).
//!
//! libm's `exp` is a scalar call with errno handling for underflow; in a loop of one `exp` per
//! pair of samples it was ~85% of `kde_mi`'s time. [`exp`] computes the same function with
//! plain IEEE `f64` additions and multiplications (no fused multiply-add, which Rust never
//! forms on its own), so it gives bit-identical results whatever instruction set the loop is
//! compiled for:
//!
//! 1. `x` is clamped to `[−746, 710]` (beyond: `exp` is 0, resp. +∞; NaN passes through);
//! 2. `x = n·ln 2 + r` with `n = round(x / ln 2)` (by adding and subtracting `1.5·2⁵²`) and
//!    `r = (x − n·LN2_HI) − n·LN2_LO`, fdlibm's split of `ln 2` (`n·LN2_HI` and the first
//!    difference are exact), so `|r| ≲ ln 2 / 2`;
//! 3. `e^r` by the degree-13 Taylor polynomial (Horner; truncation `< 5·10⁻¹⁸` relative);
//! 4. `2ⁿ` as two powers `2^{n₁}·2^{n₂}` (`n₁ ≈ n/2`), each built in the exponent bits, so
//!    that every `n ∈ [−1077, 1024]` is covered: results below `2⁻¹⁰²²` round once into the
//!    subnormals (and to 0 below `2⁻¹⁰⁷⁵`), results above `f64::MAX` overflow to +∞.
//!
//! The result is within 1 ulp of libm's `exp` over `[−745, 709]` (tested densely), `exp(0) = 1`
//! exactly, and `exp(−∞) = 0`, `exp(+∞) = +∞`, `exp(NaN) = NaN`.

/// `ln 2` split as in fdlibm: `LN2_HI` has 32 trailing zero bits, so `n·LN2_HI` is exact for
/// `|n| < 2²⁰`; `LN2_LO = ln 2 − LN2_HI`.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
/// `1.5·2⁵²`: adding it to `|v| < 2⁵¹` rounds `v` to an integer (to nearest, ties to even) held in
/// the low mantissa bits: `bits(v + SHIFT) − bits(SHIFT) = v` for integer `v`.
const SHIFT: f64 = 6_755_399_441_055_744.0;

/// `2^v` for an integer-valued `v ∈ [−1022, 1023]`, from its exponent bits.
#[inline(always)]
fn pow2(v: f64) -> f64 {
    let int = (v + SHIFT)
        .to_bits()
        .wrapping_sub(SHIFT.to_bits())
        .wrapping_add(1023);
    f64::from_bits(int << 52)
}

/// `eˣ` within 1 ulp (see the module docs); branch-free and vectorisable.
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    // `clamp` keeps NaN, which then propagates through every operation below.
    let x = x.clamp(-746.0, 710.0);
    let n = (x * std::f64::consts::LOG2_E + SHIFT) - SHIFT; // |n| <= 1077
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let mut p = 1.0 / 6_227_020_800.0; // 1/13!
    for c in [
        1.0 / 479_001_600.0,
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        p = p * r + c;
    }
    // n = n1 + n2 with n1 = round(n / 2) (`round` would be a libm call without SSE4.1), n1 and n2
    // in [-539, 512]: each power is a normal number, and the product
    // rounds once (p·2^n1 is exact).
    let n1 = (n * 0.5 + SHIFT) - SHIFT;
    (p * pow2(n1)) * pow2(n - n1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in ulps between two non-negative finite `f64` (or both +∞).
    fn ulps(a: f64, b: f64) -> u64 {
        a.to_bits().abs_diff(b.to_bits())
    }

    /// Every 2⁻²²-th of [−745, 709] plus pseudo-random points, near-zero arguments of every
    /// binade, and the edges of the subnormal and overflow ranges.
    #[test]
    fn within_one_ulp_of_libm_exp() {
        let (lo, hi) = (-745.0f64, 709.0f64);
        let steps = 1u64 << 22;
        let mut xs: Vec<f64> = (0..=steps)
            .map(|i| lo + (hi - lo) * (i as f64 / steps as f64))
            .collect();
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        xs.extend((0..1 << 20).map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            lo + (hi - lo) * ((s >> 11) as f64 / (1u64 << 53) as f64)
        }));
        for e in -1074..=0 {
            let v = 2f64.powi(e);
            xs.extend([v, -v, v * 1.5, -v * 1.5]);
        }
        xs.extend([
            -708.39,
            -708.4,
            -744.44,
            -745.13,
            -745.1332191019412,
            709.78,
            709.782712893384,
            f64::MIN_POSITIVE,
            -f64::MIN_POSITIVE,
        ]);
        let mut worst = (0, 0.0);
        for &x in &xs {
            let (got, want) = (exp(x), x.exp());
            let u = ulps(got, want);
            if u > worst.0 {
                worst = (u, x);
            }
            assert!(u <= 1, "exp({x:e}) = {got:e}, libm {want:e} ({u} ulp)");
        }
        assert!(worst.0 <= 1, "{worst:?}");
    }

    #[test]
    fn exact_at_zero_and_special_values() {
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-0.0), 1.0);
        assert_eq!(exp(f64::NEG_INFINITY), 0.0);
        assert_eq!(exp(-746.0), 0.0);
        assert_eq!(exp(-1e300), 0.0);
        assert_eq!(exp(f64::INFINITY), f64::INFINITY);
        assert_eq!(exp(710.0), f64::INFINITY);
        assert_eq!(exp(1e300), f64::INFINITY);
        assert!(exp(f64::NAN).is_nan());
        assert!(exp(-f64::NAN).is_nan());
    }
}
