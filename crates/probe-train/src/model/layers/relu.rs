//! `relu(x) = max(x, 0)` on the CPU with a one-pass backward.
//!
//! candle 0.11's ReLU backward is five passes over the tensor (`zeros_like`, `ge`, `to_dtype`, a
//! product, and the sum into the gradient); for the CNN's first convolution output that is
//! 6 MB each, and candle's elementwise maps were 18 % of a CNN training step (issue 20's profile).
//! Here the backward is one pass, `dx = dy · [x ≥ 0]` (the same products as candle's, so the same
//! bits), and the forward gives candle's values (NaN and `−0` give `+0`). Other devices and
//! dtypes use candle's `relu`. Tests: `tests/model_rowwise.rs` (values and gradients bit-identical
//! to candle's op in f32 and f64).

use candle_core::{bail, Layout, Shape, Tensor};

use super::cpu_op::{cpu_float, float_op, FloatOp, Gate};
use super::par::{split_rows, zeros};
use crate::Result;

/// `x` where `x > 0`, else `+0` (NaN and `−0` give `+0`, as candle's `relu` on the CPU).
fn positive<T: candle_core::WithDType>(x: &[T]) -> Vec<T> {
    let zero = T::zero();
    let mut out = zeros(x.len(), zero);
    split_rows(&mut out, 1, |at, out| {
        for (o, &v) in out.iter_mut().zip(&x[at..]) {
            *o = if v > zero { v } else { zero };
        }
    });
    out
}

/// `max(x, 0)`, with [`ReluGrad`] as its backward.
#[derive(Clone, Copy, Debug)]
pub struct Relu;

impl FloatOp for Relu {
    const NAME: &'static str = "relu";

    fn shape(&self, l: &[&Layout]) -> candle_core::Result<Shape> {
        Ok(l[0].shape().clone())
    }

    fn forward<T: Gate>(&self, x: &[&[T]], _: &[&[usize]]) -> Vec<T> {
        positive(x[0])
    }

    /// One pass over the gradient and the input, without host copies.
    fn backward(&self, x: &[&Tensor], _: &Tensor, dy: &Tensor) -> candle_core::Result<Vec<Tensor>> {
        Ok(vec![dy.contiguous()?.apply_op2_no_bwd(x[0], &ReluGrad)?])
    }
}

float_op!(1: Relu);

/// `(dy, x)` → `dy · [x ≥ 0]` (1 or 0 as a factor, as candle's ReLU backward).
#[derive(Clone, Copy, Debug)]
pub struct ReluGrad;

fn masked<T: candle_core::WithDType>(dy: &[T], x: &[T]) -> Vec<T> {
    let (one, zero) = (T::one(), T::zero());
    let mut out = zeros(dy.len(), zero);
    split_rows(&mut out, 1, |at, out| {
        for ((o, &g), &v) in out.iter_mut().zip(&dy[at..]).zip(&x[at..]) {
            *o = g * if v >= zero { one } else { zero };
        }
    });
    out
}

impl FloatOp for ReluGrad {
    const NAME: &'static str = "relu-grad";

    fn shape(&self, l: &[&Layout]) -> candle_core::Result<Shape> {
        if l[0].dims() != l[1].dims() {
            bail!(
                "relu-grad: gradient {:?} for input {:?}",
                l[0].dims(),
                l[1].dims()
            )
        }
        Ok(l[0].shape().clone())
    }

    fn forward<T: Gate>(&self, x: &[&[T]], _: &[&[usize]]) -> Vec<T> {
        masked(x[0], x[1])
    }
}

float_op!(2: ReluGrad);

/// `max(x, 0)`, differentiable; one-pass backward on f32/f64 CPU tensors.
pub fn relu(x: &Tensor) -> Result<Tensor> {
    if !cpu_float(x) {
        return Ok(x.relu()?);
    }
    Ok(x.contiguous()?.apply_op1(Relu)?)
}
