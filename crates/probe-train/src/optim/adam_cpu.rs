//! Adam's update of one parameter on the CPU in one pass over `θ`, `m`, `v` and `g`, split over
//! rayon's pool.
//!
//! Composed from candle ops, an Adam step is fourteen elementwise ops per parameter, each a pass
//! with a fresh buffer on the calling thread. Here every element goes through **the same
//! operations in the same order** as that composition (`Optimizer::step`'s candle path: an
//! affine map `x·a + b` with `a`, `b` rounded to the element type for every scalar product,
//! quotient and sum), so θ, m and v are bit-identical to it at every thread count (unit test in
//! `optim`).

use candle_core::{Storage, Tensor, Var, WithDType};
use num_traits::Float;

use crate::model::layers::par::split_rows_k;
use crate::Result;

/// Adam's hyper-parameters and this step's bias corrections `c1 = 1 − β₁ᵗ`, `c2 = 1 − β₂ᵗ`.
#[derive(Clone, Copy, Debug)]
pub(super) struct AdamStep {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub c1: f64,
    pub c2: f64,
}

/// The elements of a contiguous CPU tensor, copied (`None`: another device or layout, or
/// another dtype than `T`).
fn elements<T: WithDType>(t: &Tensor) -> Option<Vec<T>> {
    let (s, l) = t.storage_and_layout();
    match (&*s, l.contiguous_offsets()) {
        (Storage::Cpu(c), Some((a, b))) => Some(c.as_slice::<T>().ok()?[a..b].to_vec()),
        _ => None,
    }
}

/// One element's update: `(θ', m', v')` from `(θ, m, v, g)` (`m`, `v` absent on the first step).
#[inline(always)]
fn update<T: Float>(k: &[T; 9], theta: T, m: Option<T>, v: Option<T>, g: T) -> [T; 3] {
    let [b1, omb1, b2, omb2, inv_c1, inv_c2, eps, lr, zero] = *k;
    let one = T::one();
    // `m * β₁ + g * (1 − β₁)`, each product an affine map `x·a + 0`.
    let gm = g * omb1 + zero;
    let m = match m {
        Some(m) => (m * b1 + zero) + gm,
        None => gm,
    };
    let g2 = g * g;
    let gv = g2 * omb2 + zero;
    let v = match v {
        Some(v) => (v * b2 + zero) + gv,
        None => gv,
    };
    let denom = (v * inv_c2 + zero).sqrt() * one + eps;
    let step = (m * inv_c1 + zero) / denom;
    [theta - (step * lr + zero), m, v]
}

/// Adam's step on `var` with gradient `g` and moments `m`, `v` (`None` before the first step) on
/// the CPU; returns the new moments, or `None` when the tensors are not contiguous CPU tensors of
/// one float type (the caller then runs the composition).
pub(super) fn adam_cpu(
    var: &Var,
    g: &Tensor,
    m: Option<&Tensor>,
    v: Option<&Tensor>,
    s: AdamStep,
) -> Result<Option<(Tensor, Tensor)>> {
    match var.dtype() {
        candle_core::DType::F32 => adam_typed::<f32>(var, g, m, v, s),
        candle_core::DType::F64 => adam_typed::<f64>(var, g, m, v, s),
        _ => Ok(None),
    }
}

fn adam_typed<T: WithDType + Float>(
    var: &Var,
    g: &Tensor,
    m: Option<&Tensor>,
    v: Option<&Tensor>,
    s: AdamStep,
) -> Result<Option<(Tensor, Tensor)>> {
    let n = var.elem_count();
    let get = |t: Option<&Tensor>| -> Option<Option<Vec<T>>> {
        match t {
            Some(t) if t.dims() == var.dims() => elements::<T>(t).map(Some),
            Some(_) => None,
            None => Some(None),
        }
    };
    let (Some(theta), Some(gs)) = (elements::<T>(var.as_tensor()), elements::<T>(g)) else {
        return Ok(None);
    };
    let (Some(m0), Some(v0)) = (get(m), get(v)) else {
        return Ok(None);
    };
    if gs.len() != n || m0.is_some() != v0.is_some() {
        return Ok(None);
    }
    let f = |x: f64| T::from_f64(x);
    let k = [
        f(s.beta1),
        f(1.0 - s.beta1),
        f(s.beta2),
        f(1.0 - s.beta2),
        f(1.0 / s.c1),
        f(1.0 / s.c2),
        f(s.eps),
        f(s.lr),
        T::zero(),
    ];
    let (mut t2, mut m2, mut v2) = (vec![T::zero(); n], vec![T::zero(); n], vec![T::zero(); n]);
    split_rows_k(
        [&mut t2[..], &mut m2[..], &mut v2[..]],
        [1; 3],
        |at, [t2, m2, v2]| {
            for (j, ((t2, m2), v2)) in t2.iter_mut().zip(m2).zip(v2).enumerate() {
                let i = at + j;
                let (mi, vi) = (m0.as_ref().map(|m| m[i]), v0.as_ref().map(|v| v[i]));
                [*t2, *m2, *v2] = update(&k, theta[i], mi, vi, gs[i]);
            }
        },
    );
    let dev = var.device();
    var.set(&Tensor::from_vec(t2, var.shape(), dev)?)?;
    Ok(Some((
        Tensor::from_vec(m2, var.shape(), dev)?,
        Tensor::from_vec(v2, var.shape(), dev)?,
    )))
}
