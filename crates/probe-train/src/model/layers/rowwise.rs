//! Softmax over the last dimension and layer norm as one op each on the CPU, forward and backward.
//!
//! Composed from candle ops, a softmax is five ops (max, subtract, exp, sum, divide) and a layer
//! norm eight, each a pass over the tensor, and their backward passes add broadcasts and candle's
//! generic strided reductions (`Map1::map` under `reduce_op`, 17 % of a Transformer training step
//! in issue 20's profile). Here each row is read and written once:
//!
//! - [`softmax_last`]: `y = exp(x − max x) / Σ exp(x − max x)` per row; backward
//!   `dx = y·(dy − Σ dy·y)`.
//! - [`layer_norm`]: `x̂ = (x − μ) / √(σ² + ε)` (biased variance), `y = x̂·γ + β` per row; backward
//!   `dx = (g − mean g − x̂·mean(g·x̂)) / √(σ² + ε)` with `g = dy·γ`, and `dγ = Σ dy·x̂`,
//!   `dβ = Σ dy` over the rows, accumulated row by row in fixed chunks of rows (the chunks' sums
//!   added in order).
//!
//! Both passes split their rows over rayon's pool (`par`); results are the same at every thread
//! count.
//!
//! f32 and f64 on the CPU (the callers in `attention.rs` and `norm.rs` use the composition
//! elsewhere). Values agree with the composition and with candle's fused forward-only ops to
//! rounding; the tests are `tests/model_finite_diff.rs` (forward against candle's fused ops,
//! gradients against central differences in f64) and `tests/model_rowwise.rs` (against the
//! composition in f32 and f64).

use candle_core::{bail, Layout, Shape, Tensor};
use num_traits::Float;

use super::cpu_op::{float_op, FloatOp, Gate};
use super::par::{fold_rows, split_rows, zeros};
use crate::Result;

/// Softmax over the last dimension (see the module header).
#[derive(Clone, Copy, Debug)]
pub struct SoftmaxLast;

fn softmax_rows<T: Float + Send + Sync>(x: &[T], n: usize) -> Vec<T> {
    let mut out = zeros(x.len(), T::zero());
    split_rows(&mut out, n, |first, out| {
        for (x, y) in x[first * n..].chunks_exact(n).zip(out.chunks_exact_mut(n)) {
            let max = x.iter().fold(T::neg_infinity(), |m, &v| m.max(v));
            let mut sum = T::zero();
            for (y, &v) in y.iter_mut().zip(x) {
                *y = (v - max).exp();
                sum = sum + *y;
            }
            for y in y.iter_mut() {
                *y = *y / sum;
            }
        }
    });
    out
}

fn softmax_grad<T: Float + Send + Sync>(y: &[T], dy: &[T], n: usize) -> Vec<T> {
    let mut dx = zeros(y.len(), T::zero());
    split_rows(&mut dx, n, |first, dx| {
        let at = first * n;
        for ((y, dy), dx) in y[at..]
            .chunks_exact(n)
            .zip(dy[at..].chunks_exact(n))
            .zip(dx.chunks_exact_mut(n))
        {
            let dot = y.iter().zip(dy).fold(T::zero(), |s, (&a, &b)| s + a * b);
            for ((dx, &y), &dy) in dx.iter_mut().zip(y).zip(dy) {
                *dx = y * (dy - dot);
            }
        }
    });
    dx
}

impl FloatOp for SoftmaxLast {
    const NAME: &'static str = "softmax";

    fn shape(&self, l: &[&Layout]) -> candle_core::Result<Shape> {
        Ok(l[0].shape().clone())
    }

    fn forward<T: Gate>(&self, x: &[&[T]], dims: &[&[usize]]) -> Vec<T> {
        match last(dims[0]) {
            0 => x[0].to_vec(),
            n => softmax_rows(x[0], n),
        }
    }

    fn grads<T: Gate>(&self, _: &[&[T]], dims: &[&[usize]], y: &[T], dy: &[T]) -> Vec<Vec<T>> {
        match last(dims[0]) {
            0 => vec![dy.to_vec()],
            n => vec![softmax_grad(y, dy, n)],
        }
    }
}

float_op!(1: SoftmaxLast);

/// The last dimension (1 for a scalar).
fn last(dims: &[usize]) -> usize {
    dims.last().copied().unwrap_or(1)
}

/// `softmax(x)` over the last dimension (CPU, f32 or f64).
pub fn softmax_last(x: &Tensor) -> Result<Tensor> {
    Ok(x.contiguous()?.apply_op1(SoftmaxLast)?)
}

/// Layer norm over the last dimension with `ε` (see the module header).
#[derive(Clone, Copy, Debug)]
pub struct LayerNorm {
    /// Added to the variance.
    pub eps: f64,
}

/// `(μ, √(σ² + ε))` of one row, as the composition computes them (mean of the row, mean of the
/// squared deviations).
fn moments<T: Float>(x: &[T], eps: T) -> (T, T) {
    let d = T::from(x.len()).unwrap_or_else(T::one);
    let mean = x.iter().fold(T::zero(), |s, &v| s + v) / d;
    let var = x
        .iter()
        .fold(T::zero(), |s, &v| s + (v - mean) * (v - mean))
        / d;
    (mean, (var + eps).sqrt())
}

fn norm_rows<T: Float + Send + Sync>(x: &[T], g: &[T], b: &[T], eps: T) -> Vec<T> {
    let n = g.len();
    let mut out = zeros(x.len(), T::zero());
    split_rows(&mut out, n, |first, out| {
        for (x, y) in x[first * n..].chunks_exact(n).zip(out.chunks_exact_mut(n)) {
            let (mean, sd) = moments(x, eps);
            for (((y, &v), &g), &b) in y.iter_mut().zip(x).zip(g).zip(b) {
                *y = (v - mean) / sd * g + b;
            }
        }
    });
    out
}

/// `(dx, dγ, dβ)` of a layer norm; `dγ` and `dβ` sum the rows in fixed chunks
/// (`par::fold_rows`: the same at every thread count).
fn norm_grads<T: Float + Send + Sync>(x: &[T], g: &[T], dy: &[T], eps: T) -> [Vec<T>; 3] {
    let n = g.len();
    let d = T::from(n).unwrap_or_else(T::one);
    let mut dx = zeros(x.len(), T::zero());
    let mut sums = fold_rows(&mut dx, n, 2 * n, |first, dx, acc| {
        let (dg, db) = acc.split_at_mut(n);
        let mut xn = vec![T::zero(); n];
        let mut gn = vec![T::zero(); n];
        let at = first * n;
        for ((x, dy), dx) in x[at..]
            .chunks_exact(n)
            .zip(dy[at..].chunks_exact(n))
            .zip(dx.chunks_exact_mut(n))
        {
            let (mean, sd) = moments(x, eps);
            let (mut m1, mut m2) = (T::zero(), T::zero());
            for j in 0..n {
                xn[j] = (x[j] - mean) / sd;
                gn[j] = dy[j] * g[j];
                m1 = m1 + gn[j];
                m2 = m2 + gn[j] * xn[j];
                dg[j] = dg[j] + dy[j] * xn[j];
                db[j] = db[j] + dy[j];
            }
            let (m1, m2) = (m1 / d, m2 / d);
            for j in 0..n {
                dx[j] = (gn[j] - m1 - xn[j] * m2) / sd;
            }
        }
    });
    let db = sums.split_off(n);
    [dx, sums, db]
}

impl FloatOp for LayerNorm {
    const NAME: &'static str = "layer-norm";

    fn shape(&self, l: &[&Layout]) -> candle_core::Result<Shape> {
        let n = l[0].dims().last().copied().unwrap_or(0);
        if n == 0 || l[1].dims() != [n] || l[2].dims() != [n] {
            bail!(
                "layer-norm: γ {:?} and β {:?} for rows of {n}",
                l[1].dims(),
                l[2].dims()
            )
        }
        Ok(l[0].shape().clone())
    }

    fn forward<T: Gate>(&self, x: &[&[T]], _: &[&[usize]]) -> Vec<T> {
        norm_rows(x[0], x[1], x[2], T::from_f64(self.eps))
    }

    fn grads<T: Gate>(&self, x: &[&[T]], _: &[&[usize]], _: &[T], dy: &[T]) -> Vec<Vec<T>> {
        norm_grads(x[0], x[1], dy, T::from_f64(self.eps)).into()
    }
}

float_op!(3: LayerNorm);

/// Layer norm of `x [..., d]` with `γ`, `β` `[d]` (CPU, f32 or f64).
pub fn layer_norm(x: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<Tensor> {
    Ok(x.contiguous()?
        .apply_op3(&gamma.contiguous()?, &beta.contiguous()?, LayerNorm { eps })?)
}
