//! GELU of `f32` values, `gelu(x) = x·Φ(x)`, and its slope `Φ(x) + x·φ(x)` (`Φ`, `φ`: the
//! standard normal CDF and density), evaluated in `f64` by branch-free code that vectorises.
//!
//! candle 0.11 (and [`super::gelu`]'s `f64` path) computes `Φ(x) = (erf(x/√2) + 1)/2` with libm's
//! scalar `erff` and its backward with a scalar `expf` and the constant `0.398942` for `1/√(2π)`;
//! in the Transformer those two calls were ~12 % of a training step (`perf`, issue 20). Here:
//! - the upper tail is `Q(t) = φ(t)·M(t)` for `t = |x|` (`M`: Mills' ratio), with `M` a
//!   polynomial of degree 11 in `s = 1.25·(t − 4)/(t + 4) + 0.25 ∈ [−1, 0.75]` for `t ≤ 16`
//!   (least-squares fit at Chebyshev nodes; relative error below `6·10⁻¹⁰` against `mpmath`), and
//!   `Q = 0` beyond (`Q(16) < 10⁻⁵⁷`, which rounds to 0 in `f32`);
//! - `φ(t) = e^{−t²/2}/√(2π)` with [`probe_simd::exp`] (within 1 ulp);
//! - `Φ(x) = 1 − Q(t)` for `x ≥ 0` and `Q(t)` for `x < 0`, so the negative tail keeps its
//!   relative accuracy (no `1 + erf` cancellation).
//!
//! Rounded once to `f32`, the results are within 1 ulp of the exact values (tested against an
//! `f64` reference built on libm's `erfc`), except the slope near its zero at `x ≈ −0.75`, where
//! the error is below `10⁻⁹` of the terms' size. Plain IEEE operations only (no fused
//! multiply-add), so the bits are the same at every instruction set and thread count. `±∞` and
//! NaN give what candle's `gelu_erf` gives: `gelu(+∞) = +∞`, `gelu(−∞) = NaN`, NaN stays NaN.

use std::f64::consts::FRAC_1_SQRT_2;
use std::f64::consts::FRAC_2_SQRT_PI;

/// `1/√(2π)`.
const FRAC_1_SQRT_2PI: f64 = FRAC_2_SQRT_PI * FRAC_1_SQRT_2 * 0.5;

/// Beyond this `|x|` the tail `Q` is taken as 0 (it is below `10⁻⁵⁷`).
const TAIL_END: f64 = 16.0;

/// Mills' ratio `M(t) = Q(t)/φ(t)` on `[0, 16]`: coefficients of `s⁰ … s¹¹`,
/// `s = 1.25·(t − 4)/(t + 4) + 0.25` (relative error below `6·10⁻¹⁰`).
const MILLS: [f64; 12] = [
    0.336_116_643_117_283_56,
    -0.460_839_783_351_359_67,
    0.281_541_596_495_864_2,
    -0.128_132_084_574_475_36,
    0.040_518_090_351_122_985,
    -0.006_974_841_784_383_739,
    -0.000_366_189_538_972_008_8,
    0.000_445_329_853_543_716_1,
    -2.605_380_865_805_529e-5,
    -2.797_825_522_740_66e-5,
    2.315_221_001_802_925e-6,
    1.622_300_510_928_376_1e-6,
];

/// `(Φ(x), φ(x))` in `f64`, `φ` set to 0 where `|x| ≥ 16` (see the module docs).
#[inline(always)]
fn cdf_pdf(x: f64) -> (f64, f64) {
    // `min` takes 16 for NaN; the callers give NaN back for NaN.
    let t = x.abs().min(TAIL_END);
    let s = (t - 4.0) / (t + 4.0) * 1.25 + 0.25;
    let mut m = MILLS[11];
    for &c in MILLS[..11].iter().rev() {
        m = m * s + c;
    }
    let pdf = probe_simd::exp(-0.5 * t * t) * FRAC_1_SQRT_2PI;
    let pdf = if t < TAIL_END { pdf } else { 0.0 };
    let q = pdf * m;
    let cdf = if x >= 0.0 { 1.0 - q } else { q };
    (cdf, pdf)
}

/// `gelu(x) = x·Φ(x)`, rounded to `f32` (see the module docs).
#[inline(always)]
pub(crate) fn gelu(x: f32) -> f32 {
    let v = x as f64;
    (v * cdf_pdf(v).0) as f32
}

/// `gelu'(x) = Φ(x) + x·φ(x)`, rounded to `f32`; NaN for NaN and `±∞` (as candle's backward).
#[inline(always)]
pub(crate) fn gelu_slope(x: f32) -> f32 {
    let v = x as f64;
    let (cdf, pdf) = cdf_pdf(v);
    let slope = cdf + v * pdf;
    if x.is_finite() {
        slope as f32
    } else {
        f32::NAN
    }
}

#[inline(always)]
fn gelu_body(xs: &[f32], out: &mut [f32]) {
    for (o, &x) in out.iter_mut().zip(xs) {
        *o = gelu(x);
    }
}

#[inline(always)]
fn gelu_grad_body(dy: &[f32], xs: &[f32], out: &mut [f32]) {
    for ((o, &g), &x) in out.iter_mut().zip(dy).zip(xs) {
        *o = g * gelu_slope(x);
    }
}

probe_simd::isa_dispatch! {
    /// `out[i] = gelu(xs[i])` with the code for `isa` (the same bits at every one).
    fn gelu_with(xs: &[f32], out: &mut [f32]) => gelu_body
}

probe_simd::isa_dispatch! {
    /// `out[i] = dy[i]·gelu'(xs[i])` with the code for `isa` (the same bits at every one).
    fn gelu_grad_with(dy: &[f32], xs: &[f32], out: &mut [f32]) => gelu_grad_body
}

/// `out[i] = gelu(xs[i])`, vectorised for this CPU.
pub(crate) fn gelu_slice(xs: &[f32], out: &mut [f32]) {
    gelu_with(probe_simd::isa(), xs, out)
}

/// `out[i] = dy[i]·gelu'(xs[i])`, vectorised for this CPU.
pub(crate) fn gelu_grad_slice(dy: &[f32], xs: &[f32], out: &mut [f32]) {
    gelu_grad_with(probe_simd::isa(), dy, xs, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(gelu, slope)` in `f64` from libm's `erfc` and `exp` (`Φ(x) = erfc(−x/√2)/2`, no
    /// cancellation in either tail), and the size of the slope's two terms.
    fn reference(x: f32) -> (f64, f64, f64) {
        let v = x as f64;
        let cdf = 0.5 * libm::erfc(-v * FRAC_1_SQRT_2);
        let xpdf = v * (-0.5 * v * v).exp() * FRAC_1_SQRT_2PI;
        (v * cdf, cdf + xpdf, cdf.abs() + xpdf.abs())
    }

    /// One unit in the last place of `f32` at `v`'s magnitude (subnormal spacing below).
    fn ulp(v: f64) -> f64 {
        let a = (v.abs() as f32).max(f32::MIN_POSITIVE);
        (f32::from_bits(a.to_bits() + 1) - a) as f64
    }

    #[test]
    fn within_one_ulp_of_the_exact_values() {
        // Every 2^-12 in [-20, 20], every binade of small |x|, and pseudo-random points.
        let mut xs: Vec<f32> = (-20 * 4096..=20 * 4096)
            .map(|i| i as f32 / 4096.0)
            .collect();
        for e in -126..0 {
            let v = 2f32.powi(e);
            xs.extend([v, -v, 1.7 * v, -1.7 * v]);
        }
        let mut s = 0x2545_f491_4f6c_dd1du64;
        xs.extend((0..1 << 18).map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 36.0
        }));
        for &x in &xs {
            let (g, d, size) = reference(x);
            let (got_g, got_d) = (gelu(x) as f64, gelu_slope(x) as f64);
            assert!(
                (got_g - g).abs() <= ulp(g),
                "gelu({x:e}) = {got_g:e}, exact {g:e}"
            );
            assert!(
                (got_d - d).abs() <= ulp(d) + 1e-9 * size,
                "gelu'({x:e}) = {got_d:e}, exact {d:e}"
            );
        }
    }

    #[test]
    fn the_same_bits_at_every_instruction_set() {
        let xs: Vec<f32> = (-9000..9000).map(|i| i as f32 / 701.0).collect();
        let dy: Vec<f32> = xs.iter().map(|&x| 1.0 - 0.3 * x).collect();
        let (mut want, mut want_d) = (vec![0.0; xs.len()], vec![0.0; xs.len()]);
        gelu_body(&xs, &mut want);
        gelu_grad_body(&dy, &xs, &mut want_d);
        for isa in probe_simd::supported_isas() {
            let (mut got, mut got_d) = (vec![0.0; xs.len()], vec![0.0; xs.len()]);
            gelu_with(isa, &xs, &mut got);
            gelu_grad_with(isa, &dy, &xs, &mut got_d);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "{isa:?}");
            assert_eq!(bits(&got_d), bits(&want_d), "{isa:?}");
        }
    }

    #[test]
    fn special_values_as_candle() {
        assert_eq!(gelu(0.0), 0.0);
        assert_eq!(gelu_slope(0.0), 0.5);
        assert_eq!(gelu(f32::INFINITY), f32::INFINITY);
        assert!(gelu(f32::NEG_INFINITY).is_nan());
        assert!(gelu(f32::NAN).is_nan());
        assert!(gelu_slope(f32::NAN).is_nan());
        assert!(gelu_slope(f32::INFINITY).is_nan());
        assert_eq!(gelu(-20.0), -0.0);
        assert_eq!(gelu(20.0), 20.0);
        assert_eq!(gelu_slope(20.0), 1.0);
        assert_eq!(gelu_slope(-20.0), 0.0);
    }
}
