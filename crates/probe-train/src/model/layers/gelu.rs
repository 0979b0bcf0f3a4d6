//! GELU (`x·Φ(x)`, the exact form with `erf`) on the CPU as one op, forward and backward, split
//! over rayon's pool.
//!
//! candle 0.11's `gelu_erf` runs on the calling thread, and its backward is eleven elementwise
//! ops (`sqr`, `neg`, `/ 2`, `exp`, `0.398942·`, `·x`, `/ √2`, `erf`, `0.5·`, `0.5 +`, `+`) and
//! the product with the gradient, each a pass over the tensor with a fresh buffer: the
//! Transformer's MLP activations (`[B, T', d_mlp]`) made that one of the larger single-threaded
//! stretches of a training step (issue 20). Here the forward and the backward are one pass each,
//! computing **the same operations in the same order** as candle's (its scalar `erf`, `exp` and
//! affine maps `v·a + b`), so values and gradients are bit-identical to `gelu_erf`'s in f32 and
//! f64 (`tests/model_rowwise.rs`).

use candle_core::{bail, Layout, Shape, Tensor};

use super::cpu_op::{cpu_float, float_op, FloatOp, Gate};
use super::par::{split_rows, zeros};
use crate::Result;

/// `gelu(x) = (erf(x·(1/√2)) + 1)·0.5·x`, as candle's `gelu_erf`.
#[derive(Clone, Copy, Debug)]
pub struct Gelu;

impl FloatOp for Gelu {
    const NAME: &'static str = "gelu-erf";

    fn shape(&self, l: &[&Layout]) -> candle_core::Result<Shape> {
        Ok(l[0].shape().clone())
    }

    fn forward<T: Gate>(&self, x: &[&[T]], _: &[&[usize]]) -> Vec<T> {
        let x = x[0];
        let (one, half) = (T::one(), T::from_f64(0.5));
        let s = T::frac_1_sqrt_2();
        let mut out = zeros(x.len(), T::zero());
        split_rows(&mut out, 1, |at, out| {
            for (o, &v) in out.iter_mut().zip(&x[at..]) {
                *o = (T::erf(v * s) + one) * half * v;
            }
        });
        out
    }

    /// One pass over the gradient and the input ([`GeluGrad`]).
    fn backward(&self, x: &[&Tensor], _: &Tensor, dy: &Tensor) -> candle_core::Result<Vec<Tensor>> {
        Ok(vec![dy.contiguous()?.apply_op2_no_bwd(x[0], &GeluGrad)?])
    }
}

float_op!(1: Gelu);

/// `(dy, x)` → `dy · gelu'(x)`, with candle's derivative
/// `0.5 + 0.398942·e^{−x²/2}·x + 0.5·erf(x/√2)` evaluated op by op as candle's backward does.
#[derive(Clone, Copy, Debug)]
pub struct GeluGrad;

/// `gelu'(v)` as candle 0.11's backward computes it, each of its tensor ops in turn (an affine
/// map is `v·a + b` with `a`, `b` rounded to `T`; `tensor / c` is the affine map `v·(1/c) + 0`).
#[inline(always)]
fn slope<T: Gate>(v: T) -> T {
    let f = |c: f64| T::from_f64(c);
    let (zero, one) = (T::zero(), T::one());
    let neg_half_square = -(v * v) * f(0.5) + zero;
    let scaled_exp_arg = (neg_half_square.exp() * f(0.398942) + zero) * v;
    let arg_scaled_sqrt = v * f(1.0 / 2f64.sqrt()) + zero;
    let erf_scaled_sqrt = T::erf(arg_scaled_sqrt) * f(0.5) + zero;
    (scaled_exp_arg * one + f(0.5)) + erf_scaled_sqrt
}

impl FloatOp for GeluGrad {
    const NAME: &'static str = "gelu-erf-grad";

    fn shape(&self, l: &[&Layout]) -> candle_core::Result<Shape> {
        if l[0].dims() != l[1].dims() {
            bail!(
                "gelu-erf-grad: gradient {:?} for input {:?}",
                l[0].dims(),
                l[1].dims()
            )
        }
        Ok(l[0].shape().clone())
    }

    fn forward<T: Gate>(&self, ins: &[&[T]], _: &[&[usize]]) -> Vec<T> {
        let (dy, x) = (ins[0], ins[1]);
        let mut out = zeros(dy.len(), T::zero());
        split_rows(&mut out, 1, |at, out| {
            for ((o, &g), &v) in out.iter_mut().zip(&dy[at..]).zip(&x[at..]) {
                *o = g * slope(v);
            }
        });
        out
    }
}

float_op!(2: GeluGrad);

/// `gelu_erf(x)`, differentiable; one op forward and backward on f32/f64 CPU tensors (candle's
/// `gelu_erf` elsewhere), bit-identical to candle's.
pub fn gelu_erf(x: &Tensor) -> Result<Tensor> {
    if !cpu_float(x) {
        return Ok(x.gelu_erf()?);
    }
    Ok(x.contiguous()?.apply_op1(Gelu)?)
}
