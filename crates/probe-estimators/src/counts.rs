//! Count summaries of the binned estimators: what the CUDA kernels bring back to the host, and the
//! CPU reference they are checked against, exactly.
//!
//! * [`BinnedCounts`] — the plug-in entropies `H(T)`, `H(T|X)`, `H(T|Y)` of a layer are sums of
//!   terms `(c/n)·log2(g/c)`, one per symbol (or per (symbol, x) / (symbol, y) pair) occurring `c`
//!   times in a group of `g` samples (`g = n` for `H(T)`, the size of the x or y group otherwise).
//!   [`BinnedCounts`] holds the multiset of these `(c, g)` terms as [`TermRun`]s, sorted, and
//!   [`BinnedCounts::mi`] sums them in the same order and arithmetic as [`crate::discrete`], so the
//!   entropies are **bit-identical** to [`crate::binned_mi`]'s. The multiset is all that leaves the
//!   GPU: a few hundred runs even for 60 000 samples.
//! * [`NeuronHistograms`] — per-neuron counts `[d][bins + 1]` (last slot NaN) under a bounded
//!   binning, with per-neuron entropy and end-bin (saturation) fractions.
//!
//! `*_tensor` functions run on the tensor's device: the CUDA kernels for a CUDA tensor (feature
//! `cuda`), the CPU reference otherwise.
//!
//! ```
//! use probe_estimators::{binned_counts, binned_mi, exact_symbols, Binning};
//! let acts = [-0.9f32, -0.8, 0.5, 0.7];
//! let x = exact_symbols(&[0.0, 1.0, 2.0, 3.0], 4, 1).unwrap().ids;
//! let b = Binning::Fixed { lo: -1.0, hi: 1.0, edges: 3 };
//! let c = binned_counts(&acts, 4, 1, &b, &x, &[0, 0, 1, 1]).unwrap();
//! assert_eq!(c.distinct, 2); // two symbols, each twice among 4 samples
//! assert_eq!(c.mi(), binned_mi(&acts, 4, 1, &b, &x, &[0, 0, 1, 1]).unwrap());
//! ```

use candle_core::Tensor;

use crate::binned::{binned_symbols, check_ids, BinnedMi};
use crate::binning::{Binner, Binning, NAN_BIN};
use crate::discrete::{clamp_rounding, entropy_from_counts, neumaier_add, sorted_pairs};
use crate::error::{Error, Result};

/// `times` terms `(count, group)`: that many symbols (or pairs) occur `count` times in a group of
/// `group` samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TermRun {
    /// Occurrences `c` of the symbol (pair).
    pub count: u64,
    /// Size `g` of its group (`n` for `H(T)`).
    pub group: u64,
    /// Number of symbols (pairs) with this `(c, g)`.
    pub times: u64,
}

/// The entropy terms of one layer's binned estimate (see the [module docs](self)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinnedCounts {
    /// Samples `n`.
    pub n: u64,
    /// Distinct binned rows (symbols of `T`).
    pub distinct: u64,
    /// Terms of `H(T)` (`group = n`), sorted by `(count, group)`.
    pub h_t: Vec<TermRun>,
    /// Terms of `H(T|X)`, sorted.
    pub h_t_given_x: Vec<TermRun>,
    /// Terms of `H(T|Y)`, sorted.
    pub h_t_given_y: Vec<TermRun>,
}

/// Sorts runs by `(count, group)` and merges equal ones.
pub(crate) fn normalise_runs(mut runs: Vec<TermRun>) -> Vec<TermRun> {
    runs.sort_unstable();
    let mut out: Vec<TermRun> = Vec::with_capacity(runs.len());
    for r in runs {
        match out.last_mut() {
            Some(l) if (l.count, l.group) == (r.count, r.group) => l.times += r.times,
            _ => out.push(r),
        }
    }
    out
}

/// `Σ (times·c/n)·log2(g/c)` over sorted, merged runs, with the Neumaier summation of
/// `discrete::sum_terms` in the same order: bit-identical to it on the expanded terms.
fn sum_runs(runs: &[TermRun], n: u64) -> f64 {
    let n = n as f64;
    let (mut sum, mut comp) = (0.0f64, 0.0f64);
    for r in runs {
        let (c, g) = (r.count as f64, r.group as f64);
        let term = (r.times as f64 * c / n) * (g / c).log2();
        neumaier_add(&mut sum, &mut comp, term);
    }
    sum + comp
}

/// Runs of `H(A | B)` from sorted `(b << 32) | a` keys.
fn conditional_runs(keys: &[u64]) -> Vec<TermRun> {
    let mut runs = Vec::new();
    for group in keys.chunk_by(|x, y| x >> 32 == y >> 32) {
        let g = group.len() as u64;
        runs.extend(group.chunk_by(|x, y| x == y).map(|r| TermRun {
            count: r.len() as u64,
            group: g,
            times: 1,
        }));
    }
    normalise_runs(runs)
}

impl BinnedCounts {
    /// The terms of symbols `t` (one id per sample) with inputs `x_ids` and labels `y`: the CPU
    /// reference. Errors when the lengths differ or `t` is empty.
    pub fn from_ids(t: &[u32], x_ids: &[u32], y: &[u32]) -> Result<Self> {
        let n = t.len();
        if n == 0 {
            return Err(Error::InvalidDimension {
                what: "n",
                got: 0,
                expected: "at least 1 sample",
            });
        }
        check_ids(n, x_ids, y)?;
        let mut sorted = t.to_vec();
        sorted.sort_unstable();
        let h_t = normalise_runs(
            sorted
                .chunk_by(|a, b| a == b)
                .map(|r| TermRun {
                    count: r.len() as u64,
                    group: n as u64,
                    times: 1,
                })
                .collect(),
        );
        Ok(BinnedCounts {
            n: n as u64,
            distinct: h_t.iter().map(|r| r.times).sum(),
            h_t,
            h_t_given_x: conditional_runs(&sorted_pairs(t, x_ids, "x_ids")?),
            h_t_given_y: conditional_runs(&sorted_pairs(t, y, "y")?),
        })
    }

    /// `I(X;T)`, `I(T;Y)` and the entropies, in bits; bit-identical to [`crate::binned_mi`] on the
    /// same activations.
    pub fn mi(&self) -> BinnedMi {
        let h_t = sum_runs(&self.h_t, self.n);
        let h_t_given_x = sum_runs(&self.h_t_given_x, self.n);
        let h_t_given_y = sum_runs(&self.h_t_given_y, self.n);
        BinnedMi {
            i_xt: clamp_rounding(h_t - h_t_given_x),
            i_ty: clamp_rounding(h_t - h_t_given_y),
            h_t,
            h_t_given_x,
            h_t_given_y,
            distinct: self.distinct as usize,
        }
    }
}

/// [`BinnedCounts`] of the row-major `[n, d]` activations `acts` on the CPU (the reference of the
/// CUDA kernels). Errors as [`crate::binned_mi`].
pub fn binned_counts(
    acts: &[f32],
    n: usize,
    d: usize,
    binning: &Binning,
    x_ids: &[u32],
    y: &[u32],
) -> Result<BinnedCounts> {
    let t = binned_symbols(acts, n, d, binning)?;
    BinnedCounts::from_ids(&t.ids, x_ids, y)
}

/// The values of `t` (`[n, …]`, any float dtype, any device) as host `f32`, flattened.
pub(crate) fn host_f32(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.to_dtype(candle_core::DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?)
}

/// Per-neuron histograms of an `[n, d]` layer under a bounded binning (see the [module docs](self)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeuronHistograms {
    /// Neurons `d`.
    pub neurons: usize,
    /// Bins a number can fall into (`Fixed`: `edges − 1`; explicit/adaptive edges: `edges + 1`).
    pub bins: usize,
    /// `counts[j * (bins + 1) + b]`: samples of neuron `j` in bin `b`; `b = bins` is NaN.
    pub counts: Vec<u64>,
}

impl NeuronHistograms {
    /// The `bins + 1` counts of neuron `j` (last: NaN).
    pub fn neuron(&self, j: usize) -> &[u64] {
        let w = self.bins + 1;
        &self.counts[j * w..(j + 1) * w]
    }

    /// Plug-in entropy in bits of each neuron's histogram (NaN a bin of its own).
    pub fn entropy_bits(&self) -> Vec<f64> {
        (0..self.neurons)
            .map(|j| entropy_from_counts(self.neuron(j)))
            .collect()
    }

    /// For each neuron, the fractions of its samples in the first and in the last bin (for
    /// tanh-like units on `[-1, 1]` bins: the saturated ones).
    pub fn end_fractions(&self) -> Vec<[f64; 2]> {
        (0..self.neurons)
            .map(|j| {
                let c = self.neuron(j);
                let total = c.iter().sum::<u64>().max(1) as f64;
                [c[0] as f64 / total, c[self.bins - 1] as f64 / total]
            })
            .collect()
    }
}

/// The binner of a histogram: bounded bins only (`Fixed`, `Adaptive`), resolved on `values`.
pub(crate) fn histogram_binner(binning: &Binning, values: &[f32]) -> Result<(Binner, usize)> {
    let binner = binning.binner_for(values)?;
    match binner.dense_bins() {
        Some(bins) => Ok((binner, bins)),
        None => Err(Error::InvalidBinning(format!(
            "{binning:?}: per-neuron histograms need bounded bins (Fixed or Adaptive); \
             Floor bins are unbounded"
        ))),
    }
}

/// [`NeuronHistograms`] of the row-major `[n, d]` activations `acts` on the CPU (the reference of
/// the CUDA kernel). Errors on a bad shape or a `Floor` binning.
pub fn neuron_histograms(
    acts: &[f32],
    n: usize,
    d: usize,
    binning: &Binning,
) -> Result<NeuronHistograms> {
    if n == 0 || d == 0 || n.checked_mul(d) != Some(acts.len()) {
        return Err(Error::LengthMismatch {
            what: "acts",
            expected: n.saturating_mul(d),
            got: acts.len(),
        });
    }
    let (binner, bins) = histogram_binner(binning, acts)?;
    let w = bins + 1;
    let mut counts = vec![0u64; d * w];
    for row in acts.chunks_exact(d) {
        for (j, &x) in row.iter().enumerate() {
            let b = binner.bin(x);
            counts[j * w + if b == NAN_BIN { bins } else { b as usize }] += 1;
        }
    }
    Ok(NeuronHistograms {
        neurons: d,
        bins,
        counts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discrete::{conditional_entropy_bits, entropy_bits};

    #[test]
    fn runs_sum_to_the_discrete_entropies_bit_for_bit() {
        let mut s = 1u64;
        let mut next = |m: u64| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 33) % m) as u32
        };
        for (n, kt, kx, ky) in [(5000, 700, 5000, 10), (3000, 40, 300, 3), (1, 1, 1, 1)] {
            let t: Vec<u32> = (0..n).map(|_| next(kt)).collect();
            let x: Vec<u32> = (0..n).map(|_| next(kx)).collect();
            let y: Vec<u32> = (0..n).map(|_| next(ky)).collect();
            let c = BinnedCounts::from_ids(&t, &x, &y).unwrap();
            let mi = c.mi();
            assert_eq!(mi.h_t.to_bits(), entropy_bits(&t).to_bits());
            let hx = conditional_entropy_bits(&t, &x).unwrap();
            let hy = conditional_entropy_bits(&t, &y).unwrap();
            assert_eq!(mi.h_t_given_x.to_bits(), hx.to_bits());
            assert_eq!(mi.h_t_given_y.to_bits(), hy.to_bits());
            // Counting identities: Σ c·times = n in every table.
            for runs in [&c.h_t, &c.h_t_given_x, &c.h_t_given_y] {
                assert_eq!(
                    runs.iter().map(|r| r.count * r.times).sum::<u64>(),
                    n as u64
                );
            }
        }
    }

    #[test]
    fn runs_merge_regardless_of_order() {
        let r = |count, group, times| TermRun {
            count,
            group,
            times,
        };
        let a = normalise_runs(vec![r(2, 5, 1), r(1, 5, 3), r(2, 5, 4)]);
        assert_eq!(a, vec![r(1, 5, 3), r(2, 5, 5)]);
    }

    #[test]
    fn histograms_need_bounded_bins() {
        let acts = [0.1f32, -0.5, f32::NAN, 0.9];
        let h = neuron_histograms(
            &acts,
            2,
            2,
            &Binning::Fixed {
                lo: -1.0,
                hi: 1.0,
                edges: 3,
            },
        )
        .unwrap();
        assert_eq!(h.counts, vec![0, 1, 1, 1, 1, 0]); // neuron 0: 0.1, NaN; neuron 1: -0.5, 0.9
        assert_eq!(h.entropy_bits(), vec![1.0, 1.0]);
        assert_eq!(h.end_fractions(), vec![[0.0, 0.5], [0.5, 0.5]]);
        let err = neuron_histograms(&acts, 2, 2, &Binning::Floor { width: 0.5 }).unwrap_err();
        assert!(err.to_string().contains("bounded bins"), "{err}");
    }
}
