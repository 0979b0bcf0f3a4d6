//! Per-layer activation statistics of an `[n, d]` layer (`n` samples, `d` neurons), the
//! companions of the information plane that tell *why* a layer's information moves.
//!
//! * **sparsity** — the fraction of the `n·d` values that are exactly zero (`0.0` or `−0.0`);
//! * **saturation** — the fraction with `|x| ≥ threshold` (NaN never counts, ±inf always does),
//!   compared in `f32` (the threshold is rounded to `f32`, so 0.9 counts a value of `0.9f32`).
//!   The threshold is the caller's (probe's default 0.99): near ±1 it counts tanh units at their
//!   limits; for sigmoid units it counts those near 1 only (values near 0 show in neither, exact
//!   zeros in the sparsity);
//! * **dead units** — neurons whose value is the same on every sample (a dead ReLU is constantly
//!   0; a constant saturated unit is dead too). Values compare with `==` except that all NaNs are
//!   equal, so a neuron that is NaN everywhere is dead;
//! * **per-neuron entropy** (bits) — each neuron's histogram over the `n` samples, under a binning
//!   (the run's: a [`Binning::Adaptive`] uses the edges of the whole layer, as for the layer's
//!   symbols), NaN a bin of its own; its plug-in entropy `H_j`, and the mean, minimum and maximum
//!   over neurons. `0 ≤ H_j ≤ log2 min(n, bins)`;
//! * **mean surprisal** (bits) — the mean of `−log2 p(bin(x))` over all `n·d` values, with `p` the
//!   layer's pooled histogram (all neurons together). This is the entropy of the pooled histogram;
//!   it is at least the mean per-neuron entropy (entropy is concave), and the gap is the
//!   information the neuron index carries about the bin. (Taken under each neuron's own histogram
//!   the mean surprisal would be the mean per-neuron entropy again.)
//!
//! Cost: `O(n·d)` for `binned` and `adaptive` bins (dense counts, `d × bins` counters); `floor`
//! bins are unbounded, so each neuron's bins are sorted: `O(n·d·log n)`.
//!
//! ```
//! use probe_estimators::{layer_stats, Binning};
//! // 4 samples × 2 neurons: neuron 0 spreads over 4 bins, neuron 1 is dead at 0.
//! let acts = [-0.9f32, 0.0, -0.4, 0.0, 0.1, 0.0, 0.995, 0.0];
//! let s = layer_stats(&acts, 4, 2, Some(&Binning::Floor { width: 0.5 }), 0.99).unwrap();
//! assert_eq!((s.sparsity, s.saturation, s.dead_units), (0.5, 0.125, 1));
//! let e = s.entropy.unwrap();
//! assert_eq!((e.min, e.max, e.mean), (0.0, 2.0, 1.0));
//! ```

use std::collections::HashMap;

use candle_core::{DType, Tensor};

use crate::binning::{Binner, Binning};
use crate::discrete::entropy_from_counts;
use crate::error::{Error, Result};
use scan::dense_counts;

mod scan;
use crate::shape::{check_samples, samples_shape};

/// Statistics of one layer (see the [module docs](self)).
#[derive(Clone, Debug, PartialEq)]
pub struct LayerStats {
    /// Samples `n`.
    pub samples: usize,
    /// Neurons `d` (values per sample).
    pub neurons: usize,
    /// Fraction of values exactly 0.
    pub sparsity: f64,
    /// Fraction of values with `|x| ≥` the threshold.
    pub saturation: f64,
    /// Neurons constant over all samples.
    pub dead_units: usize,
    /// Per-neuron entropies and the mean surprisal, when a binning was given.
    pub entropy: Option<NeuronEntropy>,
}

/// Per-neuron entropy summary and mean surprisal of a layer, in **bits**.
#[derive(Clone, Debug, PartialEq)]
pub struct NeuronEntropy {
    /// Mean over neurons of the per-neuron entropy `H_j`.
    pub mean: f64,
    /// Smallest `H_j`.
    pub min: f64,
    /// Largest `H_j`.
    pub max: f64,
    /// Mean `−log2 p(bin)` over all values under the pooled histogram (its entropy).
    pub surprisal_mean: f64,
}

/// `t` (`[n, …]`) flattened per sample to host `f32`: `(n, d, values)`. Errors on a rank-0 tensor
/// or a non-float dtype.
pub(crate) fn host_rows(t: &Tensor) -> Result<(usize, usize, Vec<f32>)> {
    let (n, d) = samples_shape(t)?;
    let v = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    Ok((n, d, v))
}

/// Checks `[n, d]` with `n, d >= 1` (and `n <= u32::MAX`) against `len`.
fn check_shape(len: usize, n: usize, d: usize) -> Result<()> {
    check_samples(n, d)?;
    match n.checked_mul(d) {
        Some(expected) if expected == len => Ok(()),
        Some(expected) => Err(Error::LengthMismatch {
            what: "acts",
            expected,
            got: len,
        }),
        None => Err(Error::InvalidDimension {
            what: "d",
            got: d,
            expected: "n * d to fit in usize",
        }),
    }
}

/// Statistics of the row-major `[n, d]` layer `acts`: sparsity, saturation at `|x| ≥ saturation`
/// (a finite threshold `> 0`), dead units, and, when `binning` is given, per-neuron entropies and
/// the mean surprisal under it. Errors on a bad shape, threshold or binning.
pub fn layer_stats(
    acts: &[f32],
    n: usize,
    d: usize,
    binning: Option<&Binning>,
    saturation: f64,
) -> Result<LayerStats> {
    check_shape(acts.len(), n, d)?;
    if !(saturation.is_finite() && saturation > 0.0 && (saturation as f32).is_finite()) {
        return Err(Error::InvalidParameter {
            what: "saturation",
            got: saturation.to_string(),
            expected: "a finite threshold > 0 on |x|",
        });
    }
    // Compared in f32, the activations' own precision: a threshold of 0.9 counts a value of
    // 0.9f32 (which is 0.8999999762 in f64).
    let threshold = saturation as f32;
    let scan::Scan {
        zeros,
        saturated,
        constant,
    } = scan::scan(acts, d, threshold);
    let total = (n * d) as f64;
    let entropy = match binning {
        Some(b) => Some(neuron_entropy(acts, n, d, &b.binner_for(acts)?)),
        None => None,
    };
    Ok(LayerStats {
        samples: n,
        neurons: d,
        sparsity: zeros as f64 / total,
        saturation: saturated as f64 / total,
        dead_units: constant.iter().filter(|&&c| c).count(),
        entropy,
    })
}

/// [`layer_stats`] of a tensor `[n, …]` (flattened per sample; any float dtype, any device; copied
/// to host memory as `f32`).
pub fn layer_stats_tensor(
    t: &Tensor,
    binning: Option<&Binning>,
    saturation: f64,
) -> Result<LayerStats> {
    let (n, d, v) = host_rows(t)?;
    layer_stats(&v, n, d, binning, saturation)
}

/// Per-neuron entropies and the pooled surprisal of a checked `[n, d]` layer.
fn neuron_entropy(acts: &[f32], n: usize, d: usize, binner: &Binner) -> NeuronEntropy {
    let per_neuron: Vec<Vec<u64>>;
    let pooled: Vec<u64>;
    // Bounded schemes count by code (the bin, NaN `bins`): `bins + 1` slots per neuron.
    let dense = match binner {
        Binner::Fixed(b) => {
            let bins = b.last() as usize + 1;
            Some((bins, dense_counts(acts, d, bins, b)))
        }
        Binner::Edges(b) => Some((b.bins(), dense_counts(acts, d, b.bins(), b))),
        Binner::Floor(_) => None,
    };
    match dense {
        Some((bins, counts)) => {
            let width = bins + 1;
            per_neuron = counts
                .chunks_exact(width)
                .map(|c| c.iter().map(|&v| v as u64).collect())
                .collect();
            pooled = (0..width)
                .map(|b| per_neuron.iter().map(|c| c[b]).sum())
                .collect();
        }
        None => (per_neuron, pooled) = sorted_counts(acts, n, d, binner),
    }
    let h: Vec<f64> = per_neuron.iter().map(|c| entropy_from_counts(c)).collect();
    NeuronEntropy {
        mean: h.iter().sum::<f64>() / d as f64,
        min: h.iter().copied().fold(f64::INFINITY, f64::min),
        max: h.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        surprisal_mean: entropy_from_counts(&pooled),
    }
}

/// Neurons processed together by [`sorted_counts`] (their bins are gathered column by column).
const COLUMN_BLOCK: usize = 64;

/// Per-neuron counts of occupied bins and the pooled counts, by sorting each neuron's bins (for
/// unbounded binnings).
fn sorted_counts(acts: &[f32], n: usize, d: usize, binner: &Binner) -> (Vec<Vec<u64>>, Vec<u64>) {
    let mut per_neuron = Vec::with_capacity(d);
    let mut pooled: HashMap<i64, u64> = HashMap::new();
    let mut buf = vec![0i64; COLUMN_BLOCK * n];
    for j0 in (0..d).step_by(COLUMN_BLOCK) {
        let cols = COLUMN_BLOCK.min(d - j0);
        for (i, row) in acts.chunks_exact(d).enumerate() {
            for (c, &x) in row[j0..j0 + cols].iter().enumerate() {
                buf[c * n + i] = binner.bin(x);
            }
        }
        for col in buf.chunks_exact_mut(n).take(cols) {
            col.sort_unstable();
            let counts: Vec<u64> = col
                .chunk_by(|a, b| a == b)
                .map(|run| {
                    *pooled.entry(run[0]).or_default() += run.len() as u64;
                    run.len() as u64
                })
                .collect();
            per_neuron.push(counts);
        }
    }
    (per_neuron, pooled.into_values().collect())
}
