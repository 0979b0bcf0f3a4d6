//! Kernel-density (KDE) bounds on the information-plane coordinates, in **bits**: the upper and
//! lower bounds of Kolchinsky & Tracey (2017) on a noisy layer `T' = T + Z`, `Z ~ N(0, σ²·I_d)`, as
//! used by Saxe et al. (2018).
//!
//! # What is estimated
//!
//! A layer's activations for `N` samples are the rows `t_1 … t_N` of an `[N, d]` matrix. With
//! **distinct inputs `X` and a deterministic network**, `T' | X = x_i ~ N(t_i, σ²I)`, so
//! `H(T'|X) = H(Z) = (d/2)·ln(2πeσ²)`, and `T'` is the equal-weight Gaussian mixture
//! `(1/N) Σ_i N(t_i, σ²I)`. Kolchinsky & Tracey bound the entropy of a mixture `Σ_i c_i p_i` by
//! `Σ_i c_i H(p_i) − Σ_i c_i ln Σ_j c_j exp(−D(p_i, p_j))`, an upper bound with `D` the KL divergence
//! and a lower bound with `D` the Bhattacharyya distance. For equal-covariance Gaussians
//! `KL = ‖t_i − t_j‖² / (2σ²)` and `BD = ‖t_i − t_j‖² / (8σ²)`. Writing, for a set `S` of samples,
//!
//! ```text
//! F_S(s) = −(1/|S|) Σ_{i∈S} ln[ (1/|S|) Σ_{j∈S} exp(−‖t_i − t_j‖² / s) ]      (nats, 0 ≤ F ≤ ln|S|)
//! ```
//!
//! the mixture entropy bounds are `H(Z) + F(8σ²) ≤ H(T') ≤ H(Z) + F(2σ²)`, so
//!
//! * `I(X;T') = H(T') − H(T'|X) = H(T') − H(Z)`: the `(d/2)·ln(2πeσ²)` constant **cancels**, giving
//!   `I_upper(X;T) = F_all(2σ²)` and `I_lower(X;T) = F_all(8σ²)`;
//! * `I(T';Y) = H(T') − Σ_y p(y)·H(T'|Y=y)`, where `T' | Y=y` is the mixture of the `N_y` components
//!   of class `y` (weights `1/N_y`), bounded by `H(Z) + F_y(s)`. Since `Σ_y p(y) = 1` the constant
//!   `H(Z)` cancels again: `I(T;Y)(s) = F_all(s) − Σ_y p(y)·F_y(s)` with `p(y) = N_y/N`, reported at
//!   `s = 2σ²` (`i_ty_upper`) and `s = 8σ²` (`i_ty_lower`). As in Saxe et al., each is a
//!   difference of two upper (resp. two lower) entropy bounds, hence an estimate rather than a
//!   rigorous bound: `i_ty_upper >= i_ty_lower` is not guaranteed and either can be slightly
//!   negative (the test `i_ty_is_an_estimate_not_a_bound` in `tests/kde.rs` builds such a case;
//!   values are reported unclamped, as Saxe et al. do). What does hold, row by row, is
//!   `Σ_j K_ij ≥ Σ_{j∈y(i)} K_ij`, hence `I(T;Y)(s) ≤ H(Y) ≤ log2(#classes)` bits.
//!
//! If the inputs are not distinct (or the network is stochastic) `H(T'|X) ≠ H(Z)` and the `I(X;T)`
//! figures are not the mutual information with `X`; they remain the entropy bounds minus `H(Z)`.
//!
//! # Computation and cost
//!
//! **CPU** (the fast path, `kde/fast.rs`): the activations are copied to the host as `f64`; identical
//! samples (row and class) are merged into groups with weights (their counts); the coordinates are
//! ordered by decreasing variance and the groups along a k-d tree, cut into tiles of 64
//! (`kde/tiles.rs`); pairs with `D/(8σ²) > ln N + 30` are left out, whole pairs of tiles at once
//! when their bounding boxes are that far apart; squared distances are `f64` direct differences
//! (relative error `≤ d·2⁻⁵³`, no cancellation). One vectorised pass (`kde/kernel.rs`) visits
//! each unordered pair of tiles once and forms, with one `exp` per pair of groups
//! (`exp(−D/(2σ²)) = exp(−D/(8σ²))⁴`, a branch-free `exp` compiled for AVX-512, AVX2 and the
//! baseline with bit-identical results), both groups' row sums at both scales and, with labels,
//! their sums over their own class, which is all `I(T;Y)` needs. Every row sum is added in a
//! fixed order whichever thread computed which tile, so the results are identical at every
//! thread count; the `I(X;T)` figures are those of [`kde_entropy`], to the bit unless equal rows
//! carry different labels. Left-out pairs move each reported value by at most `2.7·10⁻¹³` bits;
//! `tests/kde_fast.rs` checks the path against the plain double loop kept as `kde_mi_reference`
//! (`kde/reference.rs`, every pair, libm's `exp`) within `10⁻⁹` bits on random, saturated and
//! duplicate-heavy data, `d = 1 … 100`, `σ² = 10⁻⁹ … 10⁶`. Cost: one `exp` per unordered pair
//! within the cutoff (in `tishby_tanh` at `σ² = 10⁻³`: 0.5–1 % of the pairs of the 10-wide first
//! layer, 20–85 % in the narrow later ones, where the cutoff radius `≈ 0.62` is not small next to
//! the spread of the activations), plus `O(d)` per pair in the tiles visited.
//!
//! **Other devices (CUDA)**: the activations are converted to `f32` and centred (the column mean
//! is subtracted: distances do not change, the norms in the identity below shrink); squared
//! distances use `‖a − b‖² = ‖a‖² + ‖b‖² − 2a·b` as a single `f32` matmul of augmented matrices
//! `[−2a, ‖a‖², 1] · [b, 1, ‖b‖²]ᵀ`, in chunks of rows (`rows × N` per chunk, see
//! [`default_chunk_rows`]), so memory stays bounded: there is never an `N × N` matrix. Negative
//! distances (rounding) are clamped to 0 and the self-term is exactly `exp(0) = 1`. From the
//! distances on, generic candle ops (`relu`, cast, `affine`, `exp`, `sqr`, `sum`) in `f64` keep
//! the whole computation on the device; `I(T;Y)` runs the same routine on each class's samples
//! (gathered with `index_select`). The `f32` identity has an absolute error of order
//! `eps_f32·(‖t_i‖² + ‖t_j‖²)` (norms after centring), which enters the exponent divided by
//! `2σ²` or `8σ²`; data whose distances are exactly representable (e.g. 0/1 inputs) give exact
//! distances, and then both paths agree to `f64` rounding (tested).
//!
//! Measured: the section "KDE bounds (CPU)" of the root `BENCHMARKS.md`.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use probe_estimators::kde_mi;
//! // Two far-apart points: each kernel sum is ~1, so I(X;T) = log2 2 = 1 bit (both bounds).
//! let t = Tensor::new(&[[0.0f32, 0.0], [10.0, 10.0]], &Device::Cpu).unwrap();
//! let mi = kde_mi(&t, &[0, 1], 0.01).unwrap();
//! assert!((mi.i_xt_upper - 1.0).abs() < 1e-12 && (mi.i_xt_lower - 1.0).abs() < 1e-12);
//! assert!((mi.i_ty_upper - 1.0).abs() < 1e-12);
//! ```

use std::collections::BTreeMap;
use std::f64::consts::LN_2;

use candle_core::{DType, Device, Tensor};

use crate::error::{Error, Result};
use crate::rows::{self, Isa};
use crate::shape::{check_samples, samples_shape};

mod fast;
mod kernel;
pub(crate) mod reference;
mod tiles;

/// Target number of elements of one `rows × N` distance chunk on other devices (`2²⁴`: the generic
/// path holds about three `f64` temporaries of 128 MiB each).
pub const DEVICE_CHUNK_ELEMS: usize = 1 << 24;

/// KDE bounds of one layer's information-plane coordinates, in **bits**.
#[derive(Clone, Debug, PartialEq)]
pub struct KdeMi {
    /// Upper bound on `I(X;T')` (KL kernel, `exp(−‖Δ‖²/(2σ²))`), bits.
    pub i_xt_upper: f64,
    /// Lower bound on `I(X;T')` (Bhattacharyya kernel, `exp(−‖Δ‖²/(8σ²))`), bits.
    pub i_xt_lower: f64,
    /// `H_upper(T') − Σ_y p(y) H_upper(T'|Y=y)`, bits (an estimate, see the module docs).
    pub i_ty_upper: f64,
    /// `H_lower(T') − Σ_y p(y) H_lower(T'|Y=y)`, bits (an estimate, see the module docs).
    pub i_ty_lower: f64,
    /// The noise variance `σ²` the bounds were computed for.
    pub sigma2: f64,
}

/// Rows per chunk that [`kde_mi`] uses for `n` samples on `device`: on the CPU `n` (the fast
/// path forms no distance chunks), on other devices [`DEVICE_CHUNK_ELEMS`] divided by `n`, at
/// least 1 and at most `n`.
pub fn default_chunk_rows(n: usize, device: &Device) -> usize {
    if device.is_cpu() {
        return n.max(1);
    }
    (DEVICE_CHUNK_ELEMS / n.max(1)).clamp(1, n.max(1))
}

/// KDE upper and lower bounds (bits) on `I(X;T)` and estimates of `I(T;Y)` for the activations `t`
/// of shape `[N, ...]` (each sample flattened to `d` values; any float dtype, any device) with
/// labels `y` (any `u32` ids) and noise variance `sigma2` (`σ²`, in squared activation units).
/// Assumes distinct inputs and a deterministic network (see the module docs). Uses
/// [`default_chunk_rows`] rows per chunk.
///
/// Errors: a rank-0 tensor, a non-float dtype, `N = 0`, `d = 0`, `y.len() != N`, `sigma2` not
/// finite and positive, or a row with a non-finite value (or a squared norm above `f32::MAX / 4`).
pub fn kde_mi(t: &Tensor, y: &[u32], sigma2: f64) -> Result<KdeMi> {
    let n = t.dims().first().copied().unwrap_or(0);
    kde_mi_chunked(t, y, sigma2, default_chunk_rows(n, t.device()))
}

/// [`kde_mi`] with an explicit number of rows per distance chunk (`chunk_rows >= 1`; values above
/// `N` mean one chunk). Each row is computed the same way whatever the chunking, so the result
/// does not depend on `chunk_rows` (to summation rounding); on other devices than the CPU the
/// peak memory is a few `chunk_rows × N` temporaries. The CPU path forms no chunks: there
/// `chunk_rows` is only validated.
pub fn kde_mi_chunked(t: &Tensor, y: &[u32], sigma2: f64, chunk_rows: usize) -> Result<KdeMi> {
    kde_mi_with(t, y, sigma2, chunk_rows, Path::for_device(t.device()))
}

/// The KDE bounds on the entropy of a noisy layer `T' = T + N(0, σ²I)` minus the noise entropy
/// `H(Z) = (d/2)·ln(2πeσ²)`, in **bits**: `upper = F(2σ²) / ln 2`, `lower = F(8σ²) / ln 2` with `F`
/// as in the [module docs](self), so `H(Z) + lower ≤ H(T') ≤ H(Z) + upper`. With distinct inputs
/// and a deterministic network these are [`KdeMi::i_xt_upper`] and [`KdeMi::i_xt_lower`]
/// (computed the same way, so equal to the bit); both lie in `[0, log2 N]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KdeEntropy {
    /// `F(2σ²)` in bits (KL kernel).
    pub upper: f64,
    /// `F(8σ²)` in bits (Bhattacharyya kernel).
    pub lower: f64,
}

/// [`KdeEntropy`] of the activations `t` (`[N, ...]`, flattened per sample; any float dtype, any
/// device) at noise variance `sigma2`. Errors as [`kde_mi`] (without the labels).
pub fn kde_entropy(t: &Tensor, sigma2: f64) -> Result<KdeEntropy> {
    let n = t.dims().first().copied().unwrap_or(0);
    let chunk_rows = default_chunk_rows(n, t.device());
    let (upper, lower) = match Path::for_device(t.device()) {
        Path::Fast(isa) => {
            let terms = fast_terms(t, None, sigma2, chunk_rows, isa)?;
            (terms.f_upper, terms.f_lower)
        }
        Path::Ops => prepare(t, None, sigma2, chunk_rows)?.entropy_terms(sigma2, chunk_rows)?,
    };
    Ok(KdeEntropy {
        upper: upper / LN_2,
        lower: lower / LN_2,
    })
}

/// Validates the arguments (`y_len`: the label count, when there are labels) and returns the
/// samples' shape `(n, d)`.
fn validate(
    t: &Tensor,
    y_len: Option<usize>,
    sigma2: f64,
    chunk_rows: usize,
) -> Result<(usize, usize)> {
    let (n, d) = samples_shape(t)?;
    check_samples(n, d)?;
    if let Some(got) = y_len.filter(|&len| len != n) {
        return Err(Error::LengthMismatch {
            what: "y",
            expected: n,
            got,
        });
    }
    if !(sigma2.is_finite() && sigma2 > 0.0) {
        return Err(Error::InvalidParameter {
            what: "sigma2",
            got: sigma2.to_string(),
            expected: "a finite noise variance > 0",
        });
    }
    if chunk_rows == 0 {
        return Err(Error::InvalidParameter {
            what: "chunk_rows",
            got: "0".into(),
            expected: "at least 1 row per chunk",
        });
    }
    // Non-finite values show up in the row's squared norm (NaN or inf), in `f32` as the device
    // path computes it, so that both paths accept the same inputs.
    let t32 = t.reshape((n, d))?.to_dtype(DType::F32)?;
    check_norms(&t32.sqr()?.sum_keepdim(1)?, f32::MAX)?;
    Ok((n, d))
}

/// Validates the arguments as [`validate`] and returns the centred samples as the augmented
/// factors of the distance matmul (the device path).
fn prepare(t: &Tensor, y_len: Option<usize>, sigma2: f64, chunk_rows: usize) -> Result<Augmented> {
    let (n, d) = validate(t, y_len, sigma2, chunk_rows)?;
    let t = t.reshape((n, d))?.to_dtype(DType::F32)?;
    let t = t.broadcast_sub(&t.mean_keepdim(0)?)?;
    let norms = t.sqr()?.sum_keepdim(1)?; // [n, 1]
    check_norms(&norms, f32::MAX / 4.0)?;
    Augmented::new(&t, &norms)
}

/// Validates the arguments as [`validate`] and computes the KDE terms on the host with the fast
/// path ([`fast`]; `chunk_rows` is only validated, the path needs no chunks), on candle's number
/// of CPU threads for inputs of some size.
fn fast_terms(
    t: &Tensor,
    y: Option<&[u32]>,
    sigma2: f64,
    chunk_rows: usize,
    isa: Isa,
) -> Result<fast::Terms> {
    let (n, d) = validate(t, y.map(<[u32]>::len), sigma2, chunk_rows)?;
    let rows = t.reshape((n, d))?.to_dtype(DType::F64)?;
    let rows = rows.flatten_all()?.to_vec1::<f64>()?;
    let threads = if n >= 256 {
        candle_core::utils::get_num_threads()
    } else {
        1
    };
    Ok(fast::kde_terms(&rows, d, y, sigma2, isa, threads))
}

fn kde_mi_with(t: &Tensor, y: &[u32], sigma2: f64, chunk_rows: usize, path: Path) -> Result<KdeMi> {
    let (f_upper, f_lower, cond_upper, cond_lower) = match path {
        Path::Fast(isa) => {
            let terms = fast_terms(t, Some(y), sigma2, chunk_rows, isa)?;
            (
                terms.f_upper,
                terms.f_lower,
                terms.cond_upper,
                terms.cond_lower,
            )
        }
        Path::Ops => {
            let data = prepare(t, Some(y.len()), sigma2, chunk_rows)?;
            let n = y.len();
            let (f_upper, f_lower) = data.entropy_terms(sigma2, chunk_rows)?;
            let (mut cond_upper, mut cond_lower) = (0.0f64, 0.0f64);
            for idx in class_indices(y).into_values() {
                let len = idx.len();
                if len == 1 {
                    continue; // F = 0 for a single sample
                }
                let p = len as f64 / n as f64;
                let idx = Tensor::from_vec(idx, (len,), t.device())?;
                let class = data.select(&idx)?;
                let (u, l) = class.entropy_terms(sigma2, chunk_rows)?;
                cond_upper += p * u;
                cond_lower += p * l;
            }
            (f_upper, f_lower, cond_upper, cond_lower)
        }
    };
    Ok(KdeMi::from_nats(
        [f_upper, f_lower],
        [cond_upper, cond_lower],
        sigma2,
    ))
}

impl KdeMi {
    /// The four values in bits from `[F(2σ²), F(8σ²)]` over all samples and
    /// `[Σ_y p(y)·F_y(2σ²), Σ_y p(y)·F_y(8σ²)]`, in nats.
    fn from_nats(
        [f_upper, f_lower]: [f64; 2],
        [cond_upper, cond_lower]: [f64; 2],
        sigma2: f64,
    ) -> Self {
        KdeMi {
            i_xt_upper: f_upper / LN_2,
            i_xt_lower: f_lower / LN_2,
            i_ty_upper: (f_upper - cond_upper) / LN_2,
            i_ty_lower: (f_lower - cond_lower) / LN_2,
            sigma2,
        }
    }
}

/// Sample indices of every label, in increasing label order (deterministic summation order).
fn class_indices(y: &[u32]) -> BTreeMap<u32, Vec<u32>> {
    let mut classes: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (i, &label) in y.iter().enumerate() {
        classes.entry(label).or_default().push(i as u32);
    }
    classes
}

/// Errors with [`Error::NonFinite`] on the first row whose squared norm (`[n, 1]`) is not finite or
/// exceeds `max` (so that `‖a‖² + ‖b‖² − 2a·b` cannot overflow `f32`).
fn check_norms(norms: &Tensor, max: f32) -> Result<()> {
    let host = norms.flatten_all()?.to_vec1::<f32>()?;
    match host.iter().position(|&v| !(v.is_finite() && v <= max)) {
        Some(row) => Err(Error::NonFinite { what: "t", row }),
        None => Ok(()),
    }
}

/// Where and how the KDE terms are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Path {
    /// On the host: deduplication, cutoff, tiles and the vectorised kernel of [`fast`], compiled
    /// for this instruction set (one of `rows::supported_isas`).
    Fast(Isa),
    /// Generic candle ops (f32 distance matmul, relu, `f64` cast, affine, exp, sums) on the
    /// tensor's device.
    Ops,
}

impl Path {
    fn for_device(device: &Device) -> Self {
        if device.is_cpu() {
            Path::Fast(rows::isa())
        } else {
            Path::Ops
        }
    }
}

/// Centred samples as the two augmented factors of the distance matmul:
/// `left = [−2t, ‖t‖², 1]` (`[m, d+2]`) and `right = [t, 1, ‖t‖²]` (`[m, d+2]`, used transposed).
struct Augmented {
    left: Tensor,
    right: Tensor,
}

impl Augmented {
    fn new(t: &Tensor, norms: &Tensor) -> Result<Self> {
        let ones = Tensor::ones(norms.shape(), DType::F32, t.device())?;
        let left = Tensor::cat(&[&t.affine(-2.0, 0.0)?, norms, &ones], 1)?;
        let right = Tensor::cat(&[t, &ones, norms], 1)?;
        Ok(Self { left, right })
    }

    /// The rows `idx` (a `u32` tensor) of both factors.
    fn select(&self, idx: &Tensor) -> Result<Self> {
        Ok(Self {
            left: self.left.index_select(idx, 0)?,
            right: self.right.index_select(idx, 0)?,
        })
    }

    /// `(F(2σ²), F(8σ²))` in nats over these `m` samples (see the module docs), with generic
    /// candle ops on chunks of `chunk_rows` distance rows.
    fn entropy_terms(&self, sigma2: f64, chunk_rows: usize) -> Result<(f64, f64)> {
        let m = self.left.dim(0)?;
        if m == 1 {
            return Ok((0.0, 0.0));
        }
        let right_t = self.right.t()?.contiguous()?; // [d+2, m]
        let scale = -1.0 / (8.0 * sigma2);
        let (mut s_upper, mut s_lower) = (Vec::with_capacity(m), Vec::with_capacity(m));
        let mut r0 = 0;
        while r0 < m {
            let rows = chunk_rows.min(m - r0);
            // Squared distances of samples r0..r0+rows to all m samples, [rows, m], f32.
            let dist = self.left.narrow(0, r0, rows)?.matmul(&right_t)?;
            let (u, l) = row_sums_ops(dist, r0, scale)?;
            s_upper.extend(u);
            s_lower.extend(l);
            r0 += rows;
        }
        Ok(f_terms(s_upper.into_iter().zip(s_lower), m))
    }
}

/// `(F(2σ²), F(8σ²))` in nats of `m` samples from their kernel row sums `(upper, lower)`, in
/// sample order.
fn f_terms(sums: impl Iterator<Item = (f64, f64)>, m: usize) -> (f64, f64) {
    let ln_m = (m as f64).ln();
    let (mut f_upper, mut f_lower) = (0.0f64, 0.0f64);
    for (su, sl) in sums {
        f_upper += neg_log_mean(su, ln_m);
        f_lower += neg_log_mean(sl, ln_m);
    }
    (f_upper / m as f64, f_lower / m as f64)
}

/// `−ln(S/m)` for a row sum `S ∈ [1, m]` (it includes the exact self-term 1), clamped to
/// `[0, ln m]` against rounding.
fn neg_log_mean(sum: f64, ln_m: f64) -> f64 {
    (ln_m - sum.ln()).clamp(0.0, ln_m)
}

/// Kernel row sums `(Σ_j exp(−D_ij/(2σ²)), Σ_j exp(−D_ij/(8σ²)))` of a `[rows, m]` chunk of squared
/// distances (rows `r0..` of the full matrix) with generic candle ops: negative distances clamped
/// to 0, `f64` from the cast on, and the self-term (column `r0 + r`) replaced by exactly 1 on the
/// host (its computed distance is gathered; only `3·rows` values come back).
fn row_sums_ops(dist: Tensor, r0: usize, scale: f64) -> Result<(Vec<f64>, Vec<f64>)> {
    let rows = dist.dim(0)?;
    let diag_idx =
        Tensor::arange(r0 as u32, (r0 + rows) as u32, dist.device())?.reshape((rows, 1))?;
    let mut k = dist.relu()?;
    drop(dist);
    let self_dist = k.gather(&diag_idx, 1)?.flatten_all()?.to_vec1::<f32>()?;
    k = k.to_dtype(DType::F64)?;
    k = k.affine(scale, 0.0)?;
    k = k.exp()?; // exp(-D / (8σ²))
    let mut s_lower = k.sum(1)?.to_vec1::<f64>()?;
    k = k.sqr()?;
    k = k.sqr()?; // exp(-D / (2σ²))
    let mut s_upper = k.sum(1)?.to_vec1::<f64>()?;
    drop(k);
    for (r, &d) in self_dist.iter().enumerate() {
        let k_lower = (d as f64 * scale).exp();
        let k_upper = (k_lower * k_lower) * (k_lower * k_lower);
        // S >= k_self as a sum of non-negative terms including it, so S - k_self >= 0.
        s_lower[r] = (s_lower[r] - k_lower).max(0.0) + 1.0;
        s_upper[r] = (s_upper[r] - k_upper).max(0.0) + 1.0;
    }
    Ok((s_upper, s_lower))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_values::uniform;

    /// `kde_mi` gives the same bits at every instruction set the CPU supports (the kernel is
    /// IEEE `f64` with correctly rounded fused multiply-adds, the lanes and their order fixed):
    /// random data with duplicate rows, σ² from "every pair far" to "every pair near", chunks
    /// with tails.
    #[test]
    fn every_instruction_set_gives_the_same_bits() {
        let (n, d) = (301, 5);
        let mut next = uniform(99);
        let mut data: Vec<f32> = (0..n * d).map(|_| (next() * 2.0 - 1.0) as f32).collect();
        data.copy_within(0..10 * d, 200 * d);
        let y: Vec<u32> = (0..n).map(|_| (next() * 4.0) as u32).collect();
        let t = Tensor::from_vec(data, (n, d), &Device::Cpu).unwrap();
        let isas = rows::supported_isas();
        for sigma2 in [1e-4, 1e-3, 1e-2, 0.3, 10.0] {
            for chunk in [7, n] {
                let base = kde_mi_with(&t, &y, sigma2, chunk, Path::Fast(Isa::Baseline));
                let base = base.unwrap();
                for &isa in &isas {
                    let got = kde_mi_with(&t, &y, sigma2, chunk, Path::Fast(isa)).unwrap();
                    for (a, b) in [
                        (base.i_xt_upper, got.i_xt_upper),
                        (base.i_xt_lower, got.i_xt_lower),
                        (base.i_ty_upper, got.i_ty_upper),
                        (base.i_ty_lower, got.i_ty_lower),
                    ] {
                        assert_eq!(a.to_bits(), b.to_bits(), "{isa:?} sigma2={sigma2}");
                    }
                }
            }
        }
    }

    /// The generic-ops path (used on CUDA) and the fast CPU path agree, so a CPU-only test run
    /// still checks the arithmetic of the device path. The data make the ops path's `f32`
    /// distance identity exact (multiples of 1/8 in [−1, 1], rows in pairs `±x` so that the
    /// column means are exactly 0), with duplicate rows (the clamp, the self-term, the fast
    /// path's groups) and chunk sizes that split rows unevenly: only `f64` rounding differs.
    #[test]
    fn ops_path_matches_fast_cpu_path() {
        let (half, d) = (101, 9);
        let mut next = uniform(12345);
        let mut data: Vec<f32> = (0..half * d)
            .map(|_| ((next() * 17.0).floor() - 8.0) as f32 / 8.0)
            .collect();
        data.copy_within(0..5 * d, 60 * d); // rows 60..65 repeat rows 0..5
        let negated: Vec<f32> = data.iter().map(|v| -v).collect();
        data.extend(negated);
        let n = 2 * half;
        let y: Vec<u32> = (0..n as u32).map(|i| i % 3).collect();
        let t = Tensor::from_vec(data, (n, d), &Device::Cpu).unwrap();
        for sigma2 in [1e-3, 0.1, 2.0] {
            let fast = kde_mi_with(&t, &y, sigma2, n, Path::for_device(&Device::Cpu)).unwrap();
            for chunk in [1, 17, n] {
                let ops = kde_mi_with(&t, &y, sigma2, chunk, Path::Ops).unwrap();
                for (a, b) in [
                    (fast.i_xt_upper, ops.i_xt_upper),
                    (fast.i_xt_lower, ops.i_xt_lower),
                    (fast.i_ty_upper, ops.i_ty_upper),
                    (fast.i_ty_lower, ops.i_ty_lower),
                ] {
                    assert!(
                        (a - b).abs() <= 1e-12 * a.abs().max(1e-3),
                        "{fast:?} vs {ops:?}"
                    );
                }
            }
        }
    }
}
