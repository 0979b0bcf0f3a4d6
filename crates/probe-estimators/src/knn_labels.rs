//! Ross's (2014) mixed k-nearest-neighbour estimator of `I(T;Y)` in **bits** between a continuous
//! layer `T` (`[n, d]`, row-major `f32`) and discrete class labels `Y` — knn's `I(T;Y)`.
//!
//! It is [`ksg_mi`] run on `t` and the labels embedded on a line, spaced so widely that every
//! sample's nearest neighbours in the joint space are those of its own class (see
//! [`ksg_mi_labels`] for why that is Ross's estimator exactly). Cost: that of [`ksg_mi`] with
//! `dy = 1`.
//!
//! ```
//! use probe_estimators::ksg_mi_labels;
//! // Two well separated classes of 50 points on a line: I(T;Y) ≈ H(Y) = 1 bit.
//! let t: Vec<f32> = (0..100).map(|i| if i < 50 { i as f32 } else { 1000.0 + i as f32 }).collect();
//! let y: Vec<u32> = (0..100).map(|i| (i >= 50) as u32).collect();
//! let bits = ksg_mi_labels(&t, 1, &y, 3).unwrap();
//! assert!((bits - 1.0).abs() < 0.1, "{bits}");
//! ```

use crate::error::{bail, Result};
use crate::knn::ksg_mi;

/// Ross's (2014) mixed estimator of `I(T;Y)` in bits for continuous `t` (`[n, d]`, row-major) and
/// discrete labels `y`, computed by [`ksg_mi`] on `t` and the labels embedded on a line with a
/// spacing `S` larger than every max-norm distance within `t`:
///
/// with `y_i ↦ rank(y_i)·S`, every joint distance across classes (≥ S) exceeds every one within a
/// class (≤ the range of `t` < S), so KSG's `k`-th joint neighbour of sample `i` is its `k`-th
/// nearest neighbour *in its own class*, at `ε_i`; `n_y(i) = N_{y_i} − 1` and `n_t(i)` counts all
/// samples strictly within `ε_i` in `t`. KSG's `ψ(k) + ψ(N) − ⟨ψ(n_t + 1) + ψ(n_y + 1)⟩` is then
/// exactly Ross's `ψ(k) + ψ(N) − ⟨ψ(m_i)⟩ − ⟨ψ(N_{y_i})⟩` (`m_i = n_t(i) + 1`). `S` is a power of
/// two, so the embedded labels and their differences are exact in `f32`.
///
/// Errors when a class has `k` samples or fewer (its samples have no `k` neighbours of their own),
/// when the activations are too wide to separate the classes in `f32`, and as [`ksg_mi`] does.
pub fn ksg_mi_labels(t: &[f32], d: usize, y: &[u32], k: usize) -> Result<f64> {
    let n = y.len();
    let mut classes: Vec<u32> = y.to_vec();
    classes.sort_unstable();
    classes.dedup();
    for &c in &classes {
        let count = y.iter().filter(|&&v| v == c).count();
        if count <= k {
            bail!(
                "class {c} has {count} samples; knn needs more than k = {k} per class for I(T;Y)"
            );
        }
    }
    let mut range = 0.0f32;
    for m in 0..d {
        let col = t.iter().skip(m).step_by(d);
        let (lo, hi) = col.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
        range = range.max(hi - lo);
    }
    let spacing = (2.0 * (f64::from(range) + 1.0)).log2().ceil().exp2();
    let top = spacing * classes.len() as f64;
    if !(range.is_finite() && top < f64::from(f32::MAX)) {
        bail!("activations span {range}: too wide to separate the classes for knn's I(T;Y)");
    }
    let emb: Vec<f32> = y
        .iter()
        .map(|v| {
            // `classes` holds every value of `y`, so the search always finds it.
            let (Ok(rank) | Err(rank)) = classes.binary_search(v);
            (rank as f64 * spacing) as f32
        })
        .collect();
    ksg_mi(t, d, &emb, 1, n, k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knn::digamma;

    /// Ross (2014), written out: for each sample, the distance `d_i` to its k-th nearest
    /// neighbour (max-norm) among the other samples of its class, and `m_i` = 1 + the number of
    /// samples of any class strictly closer than `d_i`;
    /// `I = ψ(N) − ⟨ψ(N_{y_i})⟩ + ψ(k) − ⟨ψ(m_i)⟩` nats.
    fn ross_slow(t: &[f32], d: usize, y: &[u32], k: usize) -> f64 {
        let n = y.len();
        let dist = |i: usize, j: usize| {
            (0..d)
                .map(|m| (t[i * d + m] - t[j * d + m]).abs())
                .fold(0.0f32, f32::max)
        };
        let (mut sum_ny, mut sum_m) = (0.0, 0.0);
        for i in 0..n {
            let mut same: Vec<f32> = (0..n)
                .filter(|&j| j != i && y[j] == y[i])
                .map(|j| dist(i, j))
                .collect();
            same.sort_by(f32::total_cmp);
            let di = same[k - 1];
            let m = 1 + (0..n).filter(|&j| j != i && dist(i, j) < di).count();
            sum_ny += digamma((same.len() + 1) as f64);
            sum_m += digamma(m as f64);
        }
        let nf = n as f64;
        (digamma(nf) - sum_ny / nf + digamma(k as f64) - sum_m / nf) / std::f64::consts::LN_2
    }

    #[test]
    fn knn_labels_is_ross_mixed_estimator() {
        // Three classes with shifted means in 3-d, values spanning more than the label spacing
        // of a naive embedding (1.0) would allow.
        let (n, d) = (150, 3);
        let mut s = 0x1234_5678_9abc_def1u64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32
        };
        let y: Vec<u32> = (0..n as u32).map(|i| [4, 9, 100][i as usize % 3]).collect();
        let t: Vec<f32> = (0..n * d)
            .map(|e| 6.0 * next() + y[e / d] as f32 * 0.01)
            .collect();
        for k in [1, 3, 5] {
            let fast = ksg_mi_labels(&t, d, &y, k).unwrap();
            let slow = ross_slow(&t, d, &y, k);
            assert!((fast - slow).abs() < 1e-12, "k = {k}: {fast} vs {slow}");
        }
        let err = ksg_mi_labels(&t[..4 * d], d, &y[..4], 3).unwrap_err();
        assert!(err.to_string().contains("class 4 has 2 samples"), "{err}");
    }
}
