//! GELU (`x·Φ(x)`, the exact form with `erf`) on the CPU as one op, forward and backward, split
//! over rayon's pool.
//!
//! candle 0.11's `gelu_erf` runs on the calling thread, and its backward is eleven elementwise
//! ops (`sqr`, `neg`, `/ 2`, `exp`, `0.398942·`, `·x`, `/ √2`, `erf`, `0.5·`, `0.5 +`, `+`) and
//! the product with the gradient, each a pass over the tensor with a fresh buffer: the
//! Transformer's MLP activations (`[B, T', d_mlp]`) made that one of the larger single-threaded
//! stretches of a training step (issue 20). Here the forward and the backward are one pass each:
//! - in `f32`, by the crate-private `normal` module's vectorised `Φ` and `φ` (within 1 ulp of
//!   the exact values; candle's scalar `erff`/`expf` calls were ~12 % of a Transformer step);
//! - in `f64` (the finite-difference tests), **the same operations in the same order** as
//!   candle's, so values and gradients are bit-identical to `gelu_erf`'s
//!   (`tests/model_rowwise.rs`).

use candle_core::{bail, Layout, Shape, Tensor};

use super::cpu_op::{cpu_float, float_op, FloatOp, Gate};
use super::par::{split_rows, zeros};
use crate::Result;

/// `gelu(x) = x·Φ(x)` (`Gate::gelu` of the crate-private `cpu_op`).
#[derive(Clone, Copy, Debug)]
pub struct Gelu;

impl FloatOp for Gelu {
    const NAME: &'static str = "gelu-erf";

    fn shape(&self, l: &[&Layout]) -> candle_core::Result<Shape> {
        Ok(l[0].shape().clone())
    }

    fn forward<T: Gate>(&self, x: &[&[T]], _: &[&[usize]]) -> Vec<T> {
        let x = x[0];
        let mut out = zeros(x.len(), T::zero());
        split_rows(&mut out, 1, |at, out| T::gelu(&x[at..at + out.len()], out));
        out
    }

    /// One pass over the gradient and the input ([`GeluGrad`]).
    fn backward(&self, x: &[&Tensor], _: &Tensor, dy: &Tensor) -> candle_core::Result<Vec<Tensor>> {
        Ok(vec![dy.contiguous()?.apply_op2_no_bwd(x[0], &GeluGrad)?])
    }
}

float_op!(1: Gelu);

/// `(dy, x)` → `dy · gelu'(x)` (`Gate::gelu_grad` of the crate-private `cpu_op`).
#[derive(Clone, Copy, Debug)]
pub struct GeluGrad;

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
            let end = at + out.len();
            T::gelu_grad(&dy[at..end], &x[at..end], out)
        });
        out
    }
}

float_op!(2: GeluGrad);

/// `gelu_erf(x)`, differentiable; one op forward and backward on f32/f64 CPU tensors (candle's
/// `gelu_erf` elsewhere): within 1 ulp of the exact values in f32, bit-identical to candle's in
/// f64.
pub fn gelu_erf(x: &Tensor) -> Result<Tensor> {
    if !cpu_float(x) {
        return Ok(x.gelu_erf()?);
    }
    Ok(x.contiguous()?.apply_op1(Gelu)?)
}
