//! A channel-major convolution's bias and ReLU as one CPU op: `relu(y + b[o])` for `y [O, …]`.
//!
//! Composed (`broadcast_add` then `relu`), the CNN's blocks ran candle's single-threaded
//! broadcast add forward, its reduction for the bias gradient, and the autograd kept one more
//! zeroed-and-added gradient of the convolution's output between the two ops (issue 20). Here the
//! forward is one pass and the backward two: `dy·[y + b ≥ 0]` to `y` (the products of
//! [`super::relu`]'s backward, on the same sums `y + b`, so the same bits as the composition)
//! and its row sums to `b` (eight running sums per row, added pairwise: agrees with candle's
//! reduction to rounding). All passes split over rayon's pool; results are the same at every
//! thread count (`tests/model_rowwise.rs`, `tests/model_threads.rs`).

use candle_core::{bail, Layout, Shape, Tensor};

use super::cpu_op::{cpu_float, float_op, FloatOp, Gate};
use super::par::{split_rows, split_rows_weighted, zeros};
use crate::Result;

/// `y [O, …]`, `b [O]` → `relu(y + b[o])` in row `o` (NaN and `−0` give `+0`, as [`super::relu`]).
#[derive(Clone, Copy, Debug)]
pub struct BiasRelu;

/// `(rows, width)` of `y [O, …]` with a bias `[O]`, or an error naming the mismatch.
fn rows(what: &str, y: &Layout, b: &Layout) -> candle_core::Result<(usize, usize)> {
    let o = y.dims().first().copied().unwrap_or(0);
    if y.dims().len() < 2 || b.dims() != [o] {
        bail!("{what}: bias {:?} for {:?}", b.dims(), y.dims())
    }
    Ok((o, y.shape().elem_count() / o.max(1)))
}

impl FloatOp for BiasRelu {
    const NAME: &'static str = "bias-relu";

    fn shape(&self, l: &[&Layout]) -> candle_core::Result<Shape> {
        rows(Self::NAME, l[0], l[1])?;
        Ok(l[0].shape().clone())
    }

    fn forward<T: Gate>(&self, ins: &[&[T]], _: &[&[usize]]) -> Vec<T> {
        let (y, b) = (ins[0], ins[1]);
        let zero = T::zero();
        let n = y.len() / b.len().max(1);
        let mut out = zeros(y.len(), zero);
        split_rows(&mut out, n, |first, out| {
            let y = &y[first * n..];
            for ((o, y), &c) in out.chunks_mut(n).zip(y.chunks(n)).zip(&b[first..]) {
                for (o, &v) in o.iter_mut().zip(y) {
                    let v = v + c;
                    *o = if v > zero { v } else { zero };
                }
            }
        });
        out
    }

    /// `dy·[y + b ≥ 0]` to `y` ([`BiasReluGrad`]) and its row sums ([`RowSums`]) to `b`.
    fn backward(
        &self,
        ins: &[&Tensor],
        _: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<Vec<Tensor>> {
        let dx = dy
            .contiguous()?
            .apply_op3_no_bwd(ins[0], ins[1], &BiasReluGrad)?;
        let db = dx.apply_op1_no_bwd(&RowSums)?;
        Ok(vec![dx, db])
    }
}

float_op!(2: BiasRelu);

/// `(dy, y, b)` → `dy · [y + b[o] ≥ 0]` (1 or 0 as a factor, as candle's ReLU backward).
#[derive(Clone, Copy, Debug)]
pub struct BiasReluGrad;

impl FloatOp for BiasReluGrad {
    const NAME: &'static str = "bias-relu-grad";

    fn shape(&self, l: &[&Layout]) -> candle_core::Result<Shape> {
        rows(Self::NAME, l[1], l[2])?;
        if l[0].dims() != l[1].dims() {
            bail!(
                "bias-relu-grad: gradient {:?} for {:?}",
                l[0].dims(),
                l[1].dims()
            )
        }
        Ok(l[0].shape().clone())
    }

    fn forward<T: Gate>(&self, ins: &[&[T]], _: &[&[usize]]) -> Vec<T> {
        let (dy, y, b) = (ins[0], ins[1], ins[2]);
        let (one, zero) = (T::one(), T::zero());
        let n = y.len() / b.len().max(1);
        let mut out = zeros(dy.len(), zero);
        split_rows(&mut out, n, |first, out| {
            let (dy, y) = (&dy[first * n..], &y[first * n..]);
            let rows = out.chunks_mut(n).zip(dy.chunks(n)).zip(y.chunks(n));
            for (((o, dy), y), &c) in rows.zip(&b[first..]) {
                for ((o, &g), &v) in o.iter_mut().zip(dy).zip(y) {
                    let v = v + c;
                    *o = g * if v >= zero { one } else { zero };
                }
            }
        });
        out
    }
}

float_op!(3: BiasReluGrad);

/// `g [O, …]` → `[O]`, the sum of each row: eight running sums (elements `j ≡ k mod 8`), then
/// added pairwise. Rows are split over rayon's pool; each row's order is fixed.
#[derive(Clone, Copy, Debug)]
pub struct RowSums;

fn row_sum<T: Gate>(row: &[T]) -> T {
    let mut acc = [T::zero(); 8];
    let mut chunks = row.chunks_exact(8);
    for c in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    for (a, &v) in acc.iter_mut().zip(chunks.remainder()) {
        *a += v;
    }
    let [a0, a1, a2, a3, a4, a5, a6, a7] = acc;
    ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))
}

impl FloatOp for RowSums {
    const NAME: &'static str = "row-sums";

    fn shape(&self, l: &[&Layout]) -> candle_core::Result<Shape> {
        Ok(Shape::from(l[0].dims().first().copied().unwrap_or(1)))
    }

    fn forward<T: Gate>(&self, ins: &[&[T]], dims: &[&[usize]]) -> Vec<T> {
        let g = ins[0];
        let o = dims[0].first().copied().unwrap_or(1).max(1);
        let n = g.len() / o;
        let mut out = vec![T::zero(); o];
        split_rows_weighted(&mut out, n, |first, out| {
            for (k, s) in out.iter_mut().enumerate() {
                let r = first + k;
                *s = row_sum(&g[r * n..(r + 1) * n]);
            }
        });
        out
    }
}

float_op!(1: RowSums);

/// `relu(y + b[o])` for a channel-major `y [O, …]` and `b [O]`, differentiable (CPU, f32 or f64;
/// elsewhere `broadcast_add` then `relu`).
pub fn bias_relu_cm(y: &Tensor, b: &Tensor) -> Result<Tensor> {
    if !cpu_float(y) {
        let shape: Vec<usize> = std::iter::once(b.elem_count())
            .chain(std::iter::repeat_n(1, y.rank().saturating_sub(1)))
            .collect();
        return Ok(y.broadcast_add(&b.reshape(shape)?)?.relu()?);
    }
    Ok(y.contiguous()?.apply_op2(&b.contiguous()?, BiasRelu)?)
}
