//! `tanh` of `f32` tensors on the CPU in vectorised code, with its backward `1 − y²`.
//!
//! candle 0.11 maps `f32::tanh` (glibc's scalar `tanhf`, which calls `expm1f`) over the tensor
//! element by element: on the 12-bit protocol that was 41% of the whole run (`perf`,
//! BENCHMARKS.md). [`tanh`] computes Cephes' `tanhf` in `f32` arithmetic, branch-free so the
//! compiler vectorises it 16 lanes wide (AVX2 / AVX-512 builds chosen at run time):
//! - `|x| < 0.625`: the odd minimax polynomial `x + x·s·P(s)`, `s = x²`;
//! - `0.625 ≤ |x| < 10`: `1 − 2/(e^{2|x|} + 1)` with Cephes' `expf` (range reduction
//!   `2|x| = n·ln 2 + r` with `ln 2` split in two, a degree-6 polynomial, `2^n` by the exponent);
//! - `|x| ≥ 10`: `±1` (`tanh(10) = 1 − 4·10⁻⁹` rounds to 1 in `f32`); NaN stays NaN, `−0` stays
//!   `−0`.
//!
//! The result is within 1 ulp of the exact `tanh` (tested against `f64::tanh` over the whole
//! range), the accuracy class of `tanhf`, and deterministic:
//! the same on every instruction set, thread count and run. An earlier version evaluated the
//! same formulas in `f64` (8 lanes, `f64` division); the `f32` form is about twice as fast. Other
//! dtypes and devices use candle's `tanh`.

use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Result, Shape, Tensor};

/// `tanh(x)`, differentiable; fast on `f32` CPU tensors.
pub fn tanh(x: &Tensor) -> Result<Tensor> {
    if x.dtype() != DType::F32 || !matches!(x.device(), Device::Cpu) {
        return x.tanh();
    }
    x.contiguous()?.apply_op1(FastTanh)
}

/// `tanh` of one `f32`, as [`tanh`] computes it (used by the fused trainer too).
#[inline(always)]
pub(crate) fn tanh_one(x: f32) -> f32 {
    let a = x.abs().min(10.0);
    // Small |x|: Cephes tanhf's odd polynomial (on |x|; tanh is odd).
    let s = a * a;
    let p = ((((-5.704_988_7e-3f32 * s + 2.063_908_8e-2) * s - 5.373_971_5e-2) * s
        + 1.333_144_2e-1)
        * s
        - 3.333_328e-1)
        * s;
    let small = a + a * p;
    // Large |x|: 1 − 2/(e^{2a} + 1).
    let big = 1.0 - 2.0 / (exp_small(2.0 * a) + 1.0);
    let t = if a < 0.625 { small } else { big }.copysign(x);
    if x.is_nan() {
        x
    } else {
        t
    }
}

/// `e^x` for `0 ≤ x ≤ 20` in `f32` (Cephes expf): `x = n·ln 2 + r` with `ln 2` split in two so
/// `n·C1` is exact, a degree-6 polynomial for `e^r`, and `2^n` from the exponent bits.
#[inline(always)]
fn exp_small(x: f32) -> f32 {
    const C1: f32 = 0.693_359_4;
    const C2: f32 = -2.121_944_4e-4;
    let n = (x * std::f32::consts::LOG2_E).round();
    let r = (x - n * C1) - n * C2;
    let p = (((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2)
        * r
        + 1.666_666_6e-1)
        * r
        + 0.5)
        * (r * r)
        + r
        + 1.0;
    // n ∈ [0, 29]: 2^n is a normal f32. `n + 2²³` holds n in its low mantissa bits exactly, so
    // its bits minus those of 2²³ are n as an integer: the same value as `n as i32`, but a
    // vector operation (Rust's saturating `as` made the compiler convert lane by lane).
    const TWO_23: f32 = 8_388_608.0;
    let n_bits = (n + TWO_23).to_bits().wrapping_sub(TWO_23.to_bits());
    p * f32::from_bits((n_bits + 127) << 23)
}

#[inline(always)]
fn tanh_slice_body(xs: &[f32], out: &mut [f32]) {
    for (o, &x) in out.iter_mut().zip(xs) {
        *o = tanh_one(x);
    }
}

probe_simd::isa_dispatch! {
    /// `out[i] = tanh(xs[i])` with the code for `isa` (results identical at every one: the
    /// arithmetic is IEEE `f64` without fused operations).
    fn tanh_slice_with(xs: &[f32], out: &mut [f32]) => tanh_slice_body
}

/// [`tanh_slice_with`] at this CPU's instruction set ([`probe_simd::isa`]).
fn tanh_slice(xs: &[f32], out: &mut [f32]) {
    tanh_slice_with(probe_simd::isa(), xs, out)
}

/// The op of [`tanh`].
struct FastTanh;

impl CustomOp1 for FastTanh {
    fn name(&self) -> &'static str {
        "fast-tanh"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let xs = match (s, l.contiguous_offsets()) {
            (CpuStorage::F32(v), Some((a, b))) => &v[a..b],
            _ => candle_core::bail!("fast-tanh: needs a contiguous f32 tensor"),
        };
        let mut out = vec![0f32; xs.len()];
        tanh_slice(xs, &mut out);
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        // d tanh / dx = 1 − tanh², as candle's own tanh backward.
        Ok(Some(grad.mul(&(res.sqr()?.affine(-1.0, 1.0)?))?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f32, b: f32) -> u32 {
        let key = |v: f32| {
            let i = v.to_bits() as i32;
            if i < 0 {
                i32::MIN - i
            } else {
                i
            }
        };
        key(a).abs_diff(key(b))
    }

    #[test]
    fn within_one_ulp_of_the_exact_tanh_everywhere() {
        let mut worst = 0;
        // Every 1009th f32 bit pattern of the positive range, and its negative.
        for bits in (0u32..0x7f80_0000).step_by(1009) {
            for x in [f32::from_bits(bits), -f32::from_bits(bits)] {
                let want = (x as f64).tanh() as f32;
                let got = tanh_one(x);
                worst = worst.max(ulps(got, want));
                assert!(
                    ulps(got, want) <= 1,
                    "tanh({x:e}) = {got:e}, exact {want:e}"
                );
            }
        }
        assert!(worst <= 1);
        assert!(tanh_one(f32::NAN).is_nan());
        assert_eq!(tanh_one(f32::INFINITY), 1.0);
        assert_eq!(tanh_one(f32::NEG_INFINITY), -1.0);
        assert_eq!(tanh_one(-0.0).to_bits(), (-0.0f32).to_bits());
        // Both sides of the switch between the two formulas.
        for x in [0.625f32, f32::from_bits(0.625f32.to_bits() - 1)] {
            assert!(ulps(tanh_one(x), (x as f64).tanh() as f32) <= 1, "{x}");
        }
    }

    #[test]
    fn every_instruction_set_and_the_tensor_op_agree() -> Result<()> {
        let xs: Vec<f32> = (0..4097).map(|i| (i as f32 - 2048.0) * 0.0071).collect();
        let mut base = vec![0f32; xs.len()];
        tanh_slice_body(&xs, &mut base);
        let mut fast = vec![0f32; xs.len()];
        tanh_slice(&xs, &mut fast);
        assert_eq!(base, fast);
        let t = Tensor::from_vec(xs.clone(), (17, 241), &Device::Cpu)?;
        let y: Vec<f32> = tanh(&t)?.flatten_all()?.to_vec1()?;
        assert_eq!(y, base);
        // Non-contiguous input: the transpose's values, in its order.
        let yt: Vec<f32> = tanh(&t.t()?)?.flatten_all()?.to_vec1()?;
        let want: Vec<f32> = t
            .t()?
            .flatten_all()?
            .to_vec1::<f32>()?
            .into_iter()
            .map(tanh_one)
            .collect();
        assert_eq!(yt, want);
        Ok(())
    }

    #[test]
    fn gradient_is_one_minus_tanh_squared() -> Result<()> {
        let x =
            candle_core::Var::from_vec(vec![-3.0f32, -0.5, 0.0, 0.2, 1.0, 4.0], 6, &Device::Cpu)?;
        let g = tanh(x.as_tensor())?.sum_all()?.backward()?;
        let got: Vec<f32> = g.get(x.as_tensor()).map_or(Ok(vec![]), |t| t.to_vec1())?;
        for (v, d) in [-3.0f64, -0.5, 0.0, 0.2, 1.0, 4.0].iter().zip(&got) {
            let want = 1.0 - v.tanh() * v.tanh();
            assert!((*d as f64 - want).abs() < 1e-6, "{v}: {d} vs {want}");
        }
        Ok(())
    }
}
