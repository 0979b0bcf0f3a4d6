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
//! The activations are flattened per sample to `[N, d]`, converted to `f32` and centred (the column
//! mean is subtracted: distances do not change, the norms in the identity below shrink). Squared
//! distances use `‖a − b‖² = ‖a‖² + ‖b‖² − 2a·b` as a single `f32` matmul of augmented matrices
//! `[−2a, ‖a‖², 1] · [b, 1, ‖b‖²]ᵀ`, in chunks of rows (`rows × N` per chunk, see
//! [`default_chunk_rows`]), so memory stays bounded: there is never an `N × N` matrix (for
//! `N = 60000` a CPU chunk is 69 rows, a CUDA chunk 279). Negative distances (rounding) are
//! clamped to 0 and the self-term is exactly `exp(0) = 1`. From the distances on, everything is
//! `f64`: kernel values, row sums, and the logarithms accumulated on the host (only a few sums per
//! row come back). `exp(−D/(2σ²))` is obtained as `exp(−D/(8σ²))⁴`, so both bounds cost one
//! `exp` per pair. Every row sum includes its self-term 1, so it lies in `[1, N]`: no underflow,
//! and no max-subtraction is needed for a stable log-sum-exp.
//!
//! Two paths form the row sums from a distance chunk:
//!
//! * **CPU**: a fused candle `CustomOp1` makes one pass over the chunk (no temporaries, rows split
//!   over the cores) and forms for every row both its sums over all samples and its sums over the
//!   samples of its own class, so `I(T;Y)` costs no second pass (a label comparison and two
//!   masked additions per pair). The loop is vectorised: `exp` is the crate's branch-free `f64`
//!   exponential (`fast_exp.rs`: fdlibm's range reduction, degree-13 polynomial, `2ⁿ` from the
//!   exponent bits; within 1 ulp of libm's `exp`, tested), the sums run in 8 fixed lanes added in
//!   a fixed order, and the loop is compiled for AVX-512, AVX2 and the baseline, chosen at run
//!   time (the machinery of `rows.rs`; `PROBE_CPU_ISA=baseline|avx2` caps it), with bit-identical
//!   results at each (no fused multiply-add; tested). Kernel values below `e^−173` count as 0:
//!   next to the self-term 1 of every row sum they cannot change it, and computing them would
//!   underflow to subnormals (≈2.5x slower per pair). A block of 8 pairs whose values are all 0
//!   (far-apart samples: most pairs of a saturated layer at `σ² = 10⁻³`) is skipped after one
//!   comparison.
//! * **Other devices (CUDA)**: generic candle ops (`relu`, cast, `affine`, `exp`, `sqr`, `sum`),
//!   so the whole computation stays on the device. `I(T;Y)` runs the same routine once more on
//!   each class's samples (gathered with `index_select`): memory stays bounded for any number of
//!   classes (a one-hot `[N, C]` mask would not be) and the extra work is `Σ_y N_y² / N²` of the
//!   first pass (`1/C` for `C` balanced classes; nothing for singletons).
//!
//! Both paths give the same results to summation rounding (tested). The distance matrix is
//! symmetric in exact arithmetic but not in `f32` (the augmented dot products add the two norms
//! in opposite orders), so each row computes all `m` kernel values rather than half of them: using
//! the symmetry would change kernel values by the `f32` rounding of the distances, relatively up
//! to `eps_f32·‖t‖²/σ²` (`~10⁻⁴` at `σ² = 10⁻³` for unit norms), not by `f64` rounding only.
//!
//! Cost: `O(N²·d)` flops for the matmul plus `O(N²)` `f64` element operations (one `exp`) for all
//! four estimates on the CPU, and `Σ_y O(N_y²·d)` more for `I(T;Y)` on other devices. Measured
//! (`examples/bench_kde.rs`, `N = 4096` tanh-like activations, 2 classes, one call; 2026-11-30,
//! 2-core AMD EPYC shared with other jobs (load average ≈ 4), minimum of 5–7 runs; before = libm's
//! scalar `exp` per pair and a second pass per class):
//!
//! | `d`, `σ²` | threads | before | after | speed-up |
//! | --- | ---: | ---: | ---: | ---: |
//! | 10, `10⁻³` | 1 | 419 ms | 6.4 ms | 65× |
//! | 10, `10⁻³` | 2 | 372 ms | 6.9 ms | 54× |
//! | 2, `10⁻³` | 1 | 302 ms | 26.4 ms | 11× |
//! | 2, `10⁻³` | 2 | 274 ms | 25.9 ms | 11× |
//! | 10, `1` | 1 | 92 ms | 28.4 ms | 3.2× |
//! | 10, `1` | 2 | 84 ms | 24.8 ms | 3.4× |
//!
//! At `d = 10`, `σ² = 10⁻³` nearly every pair is far: libm's `exp` took its slow underflow path
//! there, and the new kernel skips those blocks. At `σ² = 1` no kernel value is negligible; the
//! gain is the vectorised `exp` and the single pass (≈1.7 ns per pair on one core, the `f32`
//! matmul ≈10% of the call). The two-thread figures show no scaling because the two cores were
//! busy with other jobs.
//!
//! Accuracy: `f64` activations are rounded to `f32` first. The `f32` distance identity has an
//! absolute error of order `eps_f32·(‖t_i‖² + ‖t_j‖²)` (norms after centring), which enters the
//! exponent divided by `2σ²` (upper) or `8σ²` (lower); data whose distances are exactly
//! representable (e.g. 0/1 inputs) give exact distances, and the results then match the closed
//! forms to `f64` rounding.
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

use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Shape, Tensor};

use crate::error::{Error, Result};
use crate::fast_exp;
use crate::rows::{self, Isa};
use crate::shape::{check_samples, samples_shape};

/// Target number of elements of one `rows × N` distance chunk on the CPU (`2²²`: a 16 MiB `f32`
/// chunk, the only temporary of the fused CPU path, small enough for the allocator to reuse).
pub const CPU_CHUNK_ELEMS: usize = 1 << 22;

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

/// Rows per chunk that [`kde_mi`] uses for `n` samples on `device`: [`CPU_CHUNK_ELEMS`] (CPU) or
/// [`DEVICE_CHUNK_ELEMS`] (other devices) divided by `n`, at least 1 and at most `n`.
pub fn default_chunk_rows(n: usize, device: &Device) -> usize {
    let elems = if device.is_cpu() {
        CPU_CHUNK_ELEMS
    } else {
        DEVICE_CHUNK_ELEMS
    };
    (elems / n.max(1)).clamp(1, n.max(1))
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
/// does not depend on `chunk_rows` (to summation rounding); the peak memory is one (CPU) or a few
/// (other devices) `chunk_rows × N` temporaries.
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
    let data = prepare(t, None, sigma2, chunk_rows)?;
    let (upper, lower) = data.entropy_terms(sigma2, chunk_rows, Path::for_device(t.device()))?;
    Ok(KdeEntropy {
        upper: upper / LN_2,
        lower: lower / LN_2,
    })
}

/// Validates the arguments (`y_len`: the label count, when there are labels) and returns the
/// centred samples as the augmented factors of the distance matmul.
fn prepare(t: &Tensor, y_len: Option<usize>, sigma2: f64, chunk_rows: usize) -> Result<Augmented> {
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

    let t = t.reshape((n, d))?.to_dtype(DType::F32)?;
    // Non-finite values show up in the row's squared norm (NaN or inf); checked before centring
    // so that the error names the offending row rather than every row.
    check_norms(&t.sqr()?.sum_keepdim(1)?, f32::MAX)?;
    let t = t.broadcast_sub(&t.mean_keepdim(0)?)?;
    let norms = t.sqr()?.sum_keepdim(1)?; // [n, 1]
    check_norms(&norms, f32::MAX / 4.0)?;
    Augmented::new(&t, &norms)
}

fn kde_mi_with(t: &Tensor, y: &[u32], sigma2: f64, chunk_rows: usize, path: Path) -> Result<KdeMi> {
    let data = prepare(t, Some(y.len()), sigma2, chunk_rows)?;
    let n = y.len();
    let classes = class_indices(y);
    let (mut cond_upper, mut cond_lower) = (0.0f64, 0.0f64);
    let (f_upper, f_lower) = match path {
        Path::FusedCpu(isa) => {
            // One pass: every row's kernel sums over all samples and over its own class.
            let sums = data.fused_row_sums(Some(y), sigma2, chunk_rows, isa)?;
            let f_all = f_terms(sums.iter().map(|s| (s[0], s[1])), n);
            for idx in classes.values().filter(|idx| idx.len() > 1) {
                let len = idx.len();
                let p = len as f64 / n as f64;
                let (u, l) = f_terms(
                    idx.iter()
                        .map(|&i| (sums[i as usize][2], sums[i as usize][3])),
                    len,
                );
                cond_upper += p * u;
                cond_lower += p * l;
            }
            f_all
        }
        Path::Ops => {
            let f_all = data.entropy_terms(sigma2, chunk_rows, path)?;
            for idx in classes.into_values() {
                let len = idx.len();
                if len == 1 {
                    continue; // F = 0 for a single sample
                }
                let p = len as f64 / n as f64;
                let idx = Tensor::from_vec(idx, (len,), t.device())?;
                let class = data.select(&idx)?;
                let (u, l) = class.entropy_terms(sigma2, chunk_rows, path)?;
                cond_upper += p * u;
                cond_lower += p * l;
            }
            f_all
        }
    };
    Ok(KdeMi {
        i_xt_upper: f_upper / LN_2,
        i_xt_lower: f_lower / LN_2,
        i_ty_upper: (f_upper - cond_upper) / LN_2,
        i_ty_lower: (f_lower - cond_lower) / LN_2,
        sigma2,
    })
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

/// How the kernel row sums of a distance chunk are formed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Path {
    /// One fused pass over the chunk in host memory ([`RowKernelSums`], a candle `CustomOp1`),
    /// with the kernel loop compiled for this instruction set (one of `rows::supported_isas`).
    FusedCpu(Isa),
    /// Generic candle ops (relu, `f64` cast, affine, exp, sums) on the tensor's device.
    Ops,
}

impl Path {
    fn for_device(device: &Device) -> Self {
        if device.is_cpu() {
            Path::FusedCpu(rows::isa())
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

    /// `(F(2σ²), F(8σ²))` in nats over these `m` samples (see the module docs).
    fn entropy_terms(&self, sigma2: f64, chunk_rows: usize, path: Path) -> Result<(f64, f64)> {
        let m = self.left.dim(0)?;
        if m == 1 {
            return Ok((0.0, 0.0));
        }
        if let Path::FusedCpu(isa) = path {
            let sums = self.fused_row_sums(None, sigma2, chunk_rows, isa)?;
            return Ok(f_terms(sums.iter().map(|s| (s[0], s[1])), m));
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

    /// Per sample `i` of these `m`, `[Σ_j K⁴_ij, Σ_j K_ij, Σ_{j: y_j = y_i} K⁴_ij,
    /// Σ_{j: y_j = y_i} K_ij]` with `K_ij = exp(−D_ij/(8σ²))` (so `K⁴ = exp(−D_ij/(2σ²))`), from
    /// the fused CPU kernel ([`RowKernelSums`]) on chunks of `chunk_rows` distance rows. Without
    /// `labels` the last two are 0.
    fn fused_row_sums(
        &self,
        labels: Option<&[u32]>,
        sigma2: f64,
        chunk_rows: usize,
        isa: Isa,
    ) -> Result<Vec<[f64; 4]>> {
        let m = self.left.dim(0)?;
        let right_t = self.right.t()?.contiguous()?; // [d+2, m]
        let op = |diag| RowKernelSums {
            scale: -1.0 / (8.0 * sigma2),
            diag,
            labels,
            isa,
        };
        let mut sums = Vec::with_capacity(m);
        let mut r0 = 0;
        while r0 < m {
            let rows = chunk_rows.min(m - r0);
            // Squared distances of samples r0..r0+rows to all m samples, [rows, m], f32.
            let dist = self.left.narrow(0, r0, rows)?.matmul(&right_t)?;
            let chunk = dist.apply_op1_no_bwd(&op(r0))?;
            drop(dist);
            let chunk = chunk.flatten_all()?.to_vec1::<f64>()?;
            sums.extend(chunk.chunks_exact(4).map(|s| [s[0], s[1], s[2], s[3]]));
            r0 += rows;
        }
        Ok(sums)
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

/// Fused CPU kernel row sums: on a `[rows, m]` `f32` chunk of squared distances whose row `r` is
/// sample `diag + r`, returns `[rows, 4]` `f64` holding `Σ_j K⁴_rj`, `Σ_j K_rj` and the same two
/// sums over the columns `j` of the row's own class (`labels[j] == labels[diag + r]`; 0 without
/// `labels`), with `K = exp(scale·D)`, `scale = −1/(8σ²)`, negative distances clamped to 0 and
/// the self-term exactly 1. One pass, no temporaries, rows split over the CPU cores.
struct RowKernelSums<'a> {
    scale: f64,
    diag: usize,
    /// Labels of the `m` columns (samples), when class sums are wanted.
    labels: Option<&'a [u32]>,
    isa: Isa,
}

/// `f64` lanes of the kernel loop: each lane sums every `LANES`-th column, and the lanes are added
/// in a fixed order at the end, so the sums are the same whatever vector width the loop runs at.
const LANES: usize = 8;

/// Exponents below which a kernel value counts as 0 (`e^−173 ≈ 7·10⁻⁷⁶`). Every row sum holds
/// the self-term 1, so `N` such terms (`N·e^−173 < 2⁻⁵³` for any `N < 10⁵⁸`) could not change it;
/// without them neither `K` nor `K⁴ ≥ e^−692` is ever subnormal, and products that underflow cost
/// ~2.5x per pair on the benchmark machine (AMD EPYC), for `d = 10` at `σ² = 10⁻³` nearly all.
const KERNEL_X_MIN: f64 = -173.0;

/// One block of distance rows for [`row_sums_body`].
struct RowBlock<'a> {
    /// `[rows, m]` squared distances, row-major.
    dist: &'a [f32],
    m: usize,
    /// Column of the first row's self-term (its sample index).
    first: usize,
    /// Labels of the `m` columns (empty without class sums).
    labels: &'a [u32],
    scale: f64,
}

/// Adds one block of `LANES` columns to the lane sums `acc` (`[K⁴, K, class K⁴, class K]`); the
/// column `self_lane` (if `< LANES`) is the self-term, exactly 1.
#[inline(always)]
fn add_block<const CLASSES: bool>(
    acc: &mut [[f64; LANES]; 4],
    dist: &[f32; LANES],
    labels: &[u32; LANES],
    own: u32,
    self_lane: usize,
    scale: f64,
) {
    let mut xs = [0.0f64; LANES];
    for (x, &d) in xs.iter_mut().zip(dist) {
        let d = f64::from(d);
        *x = if d > 0.0 { d } else { 0.0 } * scale;
    }
    // Far-apart samples (most pairs of a saturated layer at small σ²): every K is 0 and the
    // block adds nothing, so skipping it leaves the sums exactly as they are.
    if self_lane >= LANES && xs.iter().fold(true, |far, &x| far & (x < KERNEL_X_MIN)) {
        return;
    }
    for (l, &x) in xs.iter().enumerate() {
        // Computed for every lane and then selected (branch-free), with the argument clamped so
        // that no operation below underflows.
        let k = fast_exp::exp(if x > KERNEL_X_MIN { x } else { KERNEL_X_MIN });
        let k = if x >= KERNEL_X_MIN { k } else { 0.0 };
        let k = if l == self_lane { 1.0 } else { k };
        let k4 = (k * k) * (k * k);
        acc[0][l] += k4;
        acc[1][l] += k;
        if CLASSES {
            let same = labels[l] == own;
            acc[2][l] += if same { k4 } else { 0.0 };
            acc[3][l] += if same { k } else { 0.0 };
        }
    }
}

/// The sums of [`RowKernelSums`] for the rows of `block` into `out` (`[rows, 4]`).
#[inline(always)]
fn row_sums_body<const CLASSES: bool>(block: &RowBlock, out: &mut [f64]) {
    let m = block.m;
    let full = m / LANES * LANES;
    let no_labels = [0u32; LANES];
    for (r, sums) in out.chunks_exact_mut(4).enumerate() {
        let row = &block.dist[r * m..(r + 1) * m];
        let i = block.first + r;
        let own = if CLASSES { block.labels[i] } else { 0 };
        let lane_of_self = |b: usize| if i / LANES == b { i % LANES } else { LANES };
        let mut acc = [[0.0f64; LANES]; 4];
        let (dists, _) = row[..full].as_chunks::<LANES>();
        let (label_blocks, _) = block.labels.as_chunks::<LANES>();
        for (b, dist) in dists.iter().enumerate() {
            let labels = if CLASSES {
                &label_blocks[b]
            } else {
                &no_labels
            };
            add_block::<CLASSES>(&mut acc, dist, labels, own, lane_of_self(b), block.scale);
        }
        if full < m {
            // The last columns, padded with infinite distances (K = 0).
            let (mut dist, mut labels) = ([f32::INFINITY; LANES], [0u32; LANES]);
            dist[..m - full].copy_from_slice(&row[full..]);
            if CLASSES {
                labels[..m - full].copy_from_slice(&block.labels[full..]);
            }
            let b = full / LANES;
            add_block::<CLASSES>(&mut acc, &dist, &labels, own, lane_of_self(b), block.scale);
        }
        for (sum, lanes) in sums.iter_mut().zip(&acc) {
            *sum = lanes.iter().fold(0.0, |s, &v| s + v);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::*;

    /// [`row_sums_body`] compiled for AVX2. Safety: the CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn row_sums<const CLASSES: bool>(block: &RowBlock, out: &mut [f64]) {
        row_sums_body::<CLASSES>(block, out)
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::*;

    /// [`row_sums_body`] compiled for AVX-512. Safety: the CPU must support AVX-512 F/DQ/VL/BW,
    /// AVX2 and FMA.
    #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")]
    pub(super) unsafe fn row_sums<const CLASSES: bool>(block: &RowBlock, out: &mut [f64]) {
        row_sums_body::<CLASSES>(block, out)
    }
}

/// [`row_sums_body`] with the code for `isa` (one of `rows::supported_isas`; the arithmetic is
/// IEEE `f64` without fused operations, so the results are identical at every one).
fn row_sums<const CLASSES: bool>(isa: Isa, block: &RowBlock, out: &mut [f64]) {
    match isa {
        // SAFETY: `isa` comes from `rows::supported_isas()`, which lists Avx2 only after
        // detecting AVX2 and FMA on this CPU.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { avx2::row_sums::<CLASSES>(block, out) },
        // SAFETY: as above, Avx512 is listed only after detecting every feature it enables.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { avx512::row_sums::<CLASSES>(block, out) },
        Isa::Baseline => row_sums_body::<CLASSES>(block, out),
    }
}

impl CustomOp1 for RowKernelSums<'_> {
    fn name(&self) -> &'static str {
        "kde-row-kernel-sums"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (rows, m) = layout.shape().dims2()?;
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("kde-row-kernel-sums needs a contiguous [rows, m] chunk");
        };
        let data = &storage.as_slice::<f32>()?[start..end];
        if self.labels.is_some_and(|y| y.len() != m) {
            candle_core::bail!("kde-row-kernel-sums: {m} columns but a different label count");
        }
        let mut out = vec![0.0f64; 4 * rows];
        // Rows first..first+out.len()/4 of the chunk into `out`.
        let fill = |out: &mut [f64], first: usize| {
            let block = RowBlock {
                dist: &data[first * m..(first + out.len() / 4) * m],
                m,
                first: self.diag + first,
                labels: self.labels.unwrap_or_default(),
                scale: self.scale,
            };
            match self.labels {
                Some(_) => row_sums::<true>(self.isa, &block, out),
                None => row_sums::<false>(self.isa, &block, out),
            }
        };
        // Threads only pay off on chunks of some size (each row's sum is computed the same way
        // on any thread, so the result does not depend on the split).
        let threads = if rows * m >= 1 << 16 {
            candle_core::utils::get_num_threads().clamp(1, rows)
        } else {
            1
        };
        if threads == 1 {
            fill(&mut out, 0);
        } else {
            let per_thread = rows.div_ceil(threads);
            std::thread::scope(|scope| {
                let mut blocks = out.chunks_mut(4 * per_thread).enumerate();
                let first = blocks.next();
                for (block, out) in blocks {
                    let fill = &fill;
                    scope.spawn(move || fill(out, block * per_thread));
                }
                if let Some((_, first)) = first {
                    fill(first, 0);
                }
            });
        }
        Ok((CpuStorage::F64(out), Shape::from((rows, 4))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pseudo-random numbers in [0, 1) (an LCG; reproducible, no dependency).
    fn uniform(seed: u64) -> impl FnMut() -> f64 {
        let mut state = seed;
        move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// The fused kernel on a random `[rows, m]` distance chunk (negative entries, exact zeros,
    /// kernel values from 1 down to far below `e^−173`, `m` not a multiple of [`LANES`], the
    /// self-term inside the chunk) against a plain double loop with libm's `exp`: within 1e-13
    /// relative (sums of positive terms, the self-term 1 in each; the only differences are the
    /// 1-ulp `exp`, `K⁴` for `exp(4x)`, summation order and the terms below `e^−173`). Every
    /// instruction set gives the same bits.
    #[test]
    fn kernel_row_sums_match_a_libm_double_loop() {
        let (rows, m, diag) = (13, 301, 150);
        let mut next = uniform(7);
        let scale = -1.0 / (8.0 * 1e-3);
        let dist: Vec<f32> = (0..rows * m)
            .map(|e| match e % 7 {
                0 => 0.0,
                1 => -1e-6,
                _ => (next() * next() * 2.0) as f32, // x = D·scale down to −250
            })
            .collect();
        let labels: Vec<u32> = (0..m).map(|_| (next() * 3.0) as u32).collect();
        let t = Tensor::from_vec(dist.clone(), (rows, m), &Device::Cpu).unwrap();
        let mut first: Option<Vec<f64>> = None;
        for isa in rows::supported_isas() {
            let op = RowKernelSums {
                scale,
                diag,
                labels: Some(&labels),
                isa,
            };
            let got = t.apply_op1_no_bwd(&op).unwrap();
            let got: Vec<f64> = got.flatten_all().unwrap().to_vec1().unwrap();
            for r in 0..rows {
                let i = diag + r;
                let mut want = [0.0f64; 4];
                for j in 0..m {
                    let d = f64::from(dist[r * m + j].max(0.0));
                    let (k, k4) = match j == i {
                        true => (1.0, 1.0),
                        false => ((d * scale).exp(), (4.0 * d * scale).exp()),
                    };
                    want[0] += k4;
                    want[1] += k;
                    if labels[j] == labels[i] {
                        want[2] += k4;
                        want[3] += k;
                    }
                }
                for (g, w) in got[4 * r..4 * r + 4].iter().zip(want) {
                    assert!((g - w).abs() <= 1e-13 * w, "{isa:?} row {r}: {g} vs {w}");
                }
            }
            match &first {
                None => first = Some(got),
                Some(f) => assert!(
                    f.iter().zip(&got).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{isa:?} differs from the baseline"
                ),
            }
        }
    }

    /// `kde_mi` gives the same bits at every instruction set the CPU supports (the kernel is
    /// IEEE `f64` without fused operations, the lanes and their order fixed): random data with
    /// duplicate rows, σ² from "every pair far" to "every pair near", chunks with tails.
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
                let base = kde_mi_with(&t, &y, sigma2, chunk, Path::FusedCpu(Isa::Baseline));
                let base = base.unwrap();
                for &isa in &isas {
                    let got = kde_mi_with(&t, &y, sigma2, chunk, Path::FusedCpu(isa)).unwrap();
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

    /// The generic-ops path (used on CUDA) and the fused CPU path agree, so a CPU-only test run
    /// still checks the arithmetic of the device path. Random data with duplicate rows (exercising
    /// the clamp and the self-term) and a chunk size that splits rows unevenly.
    #[test]
    fn ops_path_matches_fused_cpu_path() {
        let (n, d) = (203, 9);
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        };
        let mut data: Vec<f32> = (0..n * d).map(|_| next()).collect();
        data.copy_within(0..5 * d, 100 * d); // rows 100..105 repeat rows 0..5
        let y: Vec<u32> = (0..n as u32).map(|i| i % 3).collect();
        let t = Tensor::from_vec(data, (n, d), &Device::Cpu).unwrap();
        for sigma2 in [1e-3, 0.1, 2.0] {
            for chunk in [1, 17, n] {
                let fused =
                    kde_mi_with(&t, &y, sigma2, chunk, Path::for_device(&Device::Cpu)).unwrap();
                let ops = kde_mi_with(&t, &y, sigma2, chunk, Path::Ops).unwrap();
                for (a, b) in [
                    (fused.i_xt_upper, ops.i_xt_upper),
                    (fused.i_xt_lower, ops.i_xt_lower),
                    (fused.i_ty_upper, ops.i_ty_upper),
                    (fused.i_ty_lower, ops.i_ty_lower),
                ] {
                    assert!(
                        (a - b).abs() <= 1e-12 * a.abs().max(1e-3),
                        "{fused:?} vs {ops:?}"
                    );
                }
            }
        }
    }
}
