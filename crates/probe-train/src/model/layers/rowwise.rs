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
//!   `dβ = Σ dy` over the rows, accumulated row by row.
//!
//! f32 and f64 on the CPU (the callers in `attention.rs` and `norm.rs` use the composition
//! elsewhere). Values agree with the composition and with candle's fused forward-only ops to
//! rounding; the tests are `tests/model_finite_diff.rs` (forward against candle's fused ops,
//! gradients against central differences in f64) and `tests/model_rowwise.rs` (against the
//! composition in f32 and f64).

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp1, CustomOp3, DType, Layout, Shape, Tensor};
use num_traits::Float;

use super::cpu_op::{back, host, slice_of};
use crate::Result;

/// Softmax over the last dimension (see the module header).
#[derive(Clone, Copy, Debug)]
pub struct SoftmaxLast;

fn softmax_rows<T: Float>(x: &[T], n: usize) -> Vec<T> {
    let mut out = vec![T::zero(); x.len()];
    for (x, y) in x.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
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
    out
}

fn softmax_grad<T: Float>(y: &[T], dy: &[T], n: usize) -> Vec<T> {
    let mut dx = vec![T::zero(); y.len()];
    for ((y, dy), dx) in y
        .chunks_exact(n)
        .zip(dy.chunks_exact(n))
        .zip(dx.chunks_exact_mut(n))
    {
        let dot = y.iter().zip(dy).fold(T::zero(), |s, (&a, &b)| s + a * b);
        for ((dx, &y), &dy) in dx.iter_mut().zip(y).zip(dy) {
            *dx = y * (dy - dot);
        }
    }
    dx
}

impl CustomOp1 for SoftmaxLast {
    fn name(&self) -> &'static str {
        "probe-softmax-last"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let n = l.dims().last().copied().unwrap_or(1);
        let w = "softmax";
        let out = match s {
            _ if n == 0 => s.clone(),
            CpuStorage::F32(x) => CpuStorage::F32(softmax_rows(slice_of(x, l, w)?, n)),
            CpuStorage::F64(x) => CpuStorage::F64(softmax_rows(slice_of(x, l, w)?, n)),
            other => bail!("softmax: dtype {:?} is not supported", other.dtype()),
        };
        Ok((out, l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, y: &Tensor, dy: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let n = x.dims().last().copied().unwrap_or(1);
        if n == 0 {
            return Ok(Some(dy.clone()));
        }
        let [dx] = match x.dtype() {
            DType::F32 => back([softmax_grad::<f32>(&host(y)?, &host(dy)?, n)], [x])?,
            DType::F64 => back([softmax_grad::<f64>(&host(y)?, &host(dy)?, n)], [x])?,
            other => bail!("softmax: dtype {other:?} is not supported"),
        };
        Ok(Some(dx))
    }
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

fn norm_rows<T: Float>(x: &[T], g: &[T], b: &[T], eps: T) -> Vec<T> {
    let n = g.len();
    let mut out = vec![T::zero(); x.len()];
    for (x, y) in x.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
        let (mean, sd) = moments(x, eps);
        for (((y, &v), &g), &b) in y.iter_mut().zip(x).zip(g).zip(b) {
            *y = (v - mean) / sd * g + b;
        }
    }
    out
}

/// `(dx, dγ, dβ)` of a layer norm.
fn norm_grads<T: Float>(x: &[T], g: &[T], dy: &[T], eps: T) -> [Vec<T>; 3] {
    let n = g.len();
    let d = T::from(n).unwrap_or_else(T::one);
    let (mut dx, mut dg, mut db) = (
        vec![T::zero(); x.len()],
        vec![T::zero(); n],
        vec![T::zero(); n],
    );
    let mut xn = vec![T::zero(); n];
    let mut gn = vec![T::zero(); n];
    for ((x, dy), dx) in x
        .chunks_exact(n)
        .zip(dy.chunks_exact(n))
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
    [dx, dg, db]
}

impl CustomOp3 for LayerNorm {
    fn name(&self) -> &'static str {
        "probe-layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let n = l1.dims().last().copied().unwrap_or(0);
        if n == 0 || l2.dims() != [n] || l3.dims() != [n] {
            bail!(
                "layer-norm: γ {:?} and β {:?} for rows of {n}",
                l2.dims(),
                l3.dims()
            )
        }
        let w = "layer-norm";
        let out = match (s1, s2, s3) {
            (CpuStorage::F32(x), CpuStorage::F32(g), CpuStorage::F32(b)) => {
                let eps = self.eps as f32;
                let (x, g, b) = (
                    slice_of(x, l1, w)?,
                    slice_of(g, l2, w)?,
                    slice_of(b, l3, w)?,
                );
                CpuStorage::F32(norm_rows(x, g, b, eps))
            }
            (CpuStorage::F64(x), CpuStorage::F64(g), CpuStorage::F64(b)) => {
                let (x, g, b) = (
                    slice_of(x, l1, w)?,
                    slice_of(g, l2, w)?,
                    slice_of(b, l3, w)?,
                );
                CpuStorage::F64(norm_rows(x, g, b, self.eps))
            }
            (a, _, _) => bail!("layer-norm: dtype {:?} is not supported", a.dtype()),
        };
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        g: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let [dx, dg, db] = match x.dtype() {
            DType::F32 => {
                let grads = norm_grads::<f32>(&host(x)?, &host(g)?, &host(dy)?, self.eps as f32);
                back(grads, [x, g, b])?
            }
            DType::F64 => back(
                norm_grads::<f64>(&host(x)?, &host(g)?, &host(dy)?, self.eps),
                [x, g, b],
            )?,
            other => bail!("layer-norm: dtype {other:?} is not supported"),
        };
        Ok((Some(dx), Some(dg), Some(db)))
    }
}

/// Layer norm of `x [..., d]` with `γ`, `β` `[d]` (CPU, f32 or f64).
pub fn layer_norm(x: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<Tensor> {
    Ok(x.contiguous()?
        .apply_op3(&gamma.contiguous()?, &beta.contiguous()?, LayerNorm { eps })?)
}
