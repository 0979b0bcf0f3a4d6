//! The KDE bounds straight from their definition, kept as the reference the fast CPU path
//! ([`super::fast`]) is tested against: every ordered pair of samples, `f64` direct differences
//! `Σ_k (t_ik − t_jk)²`, libm's `exp`, one pass per class for `I(T;Y)`, no deduplication, no
//! cutoff, no threads. `O(N²·d)` per call: for tests and checks only.

use std::collections::BTreeMap;

use candle_core::{DType, Tensor};

use super::{validate, KdeMi};
use crate::error::Result;

/// [`crate::kde_mi`] computed by the plain double loop (see the module docs). Same arguments and
/// errors as [`crate::kde_mi`]; the values differ from it only by `f64` rounding and the cutoff
/// of [`super::fast`] (bounded there).
#[doc(hidden)]
pub fn kde_mi_reference(t: &Tensor, y: &[u32], sigma2: f64) -> Result<KdeMi> {
    let (n, d) = validate(t, Some(y.len()), sigma2, 1)?;
    let rows = t.reshape((n, d))?.to_dtype(DType::F64)?;
    let rows = rows.flatten_all()?.to_vec1::<f64>()?;
    let all: Vec<usize> = (0..n).collect();
    let mut classes: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, &label) in y.iter().enumerate() {
        classes.entry(label).or_default().push(i);
    }
    let f = |idx: &[usize], s: f64| f_nats(&rows, d, idx, s);
    let (s_upper, s_lower) = (2.0 * sigma2, 8.0 * sigma2);
    let (f_upper, f_lower) = (f(&all, s_upper), f(&all, s_lower));
    let (mut cond_upper, mut cond_lower) = (0.0, 0.0);
    for idx in classes.values() {
        let p = idx.len() as f64 / n as f64;
        cond_upper += p * f(idx, s_upper);
        cond_lower += p * f(idx, s_lower);
    }
    Ok(KdeMi::from_nats(
        [f_upper, f_lower],
        [cond_upper, cond_lower],
        sigma2,
    ))
}

/// `F_S(s) = −(1/|S|) Σ_{i∈S} ln[(1/|S|) Σ_{j∈S} exp(−‖t_i − t_j‖²/s)]` in nats over the samples
/// `idx` of the row-major `[_, d]` matrix `rows`.
fn f_nats(rows: &[f64], d: usize, idx: &[usize], s: f64) -> f64 {
    let m = idx.len() as f64;
    let mut total = 0.0;
    for &i in idx {
        let a = &rows[i * d..(i + 1) * d];
        let mut sum = 0.0;
        for &j in idx {
            let b = &rows[j * d..(j + 1) * d];
            let dist: f64 = a.iter().zip(b).map(|(u, v)| (u - v) * (u - v)).sum();
            sum += (-dist / s).exp();
        }
        total -= (sum / m).ln();
    }
    total / m
}
