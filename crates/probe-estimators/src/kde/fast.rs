//! The fast CPU path of the KDE bounds: exact deduplication, tiles of nearby rows with a
//! cutoff radius, one `exp` per unordered pair for both bounds and the class terms, rows split
//! over the cores.
//!
//! 1. **Deduplication.** Samples with the same row (and, with labels, the same class) form one
//!    group of weight `w_g` (their count); a saturated `tanh` layer has few distinct rows. Every
//!    sample of a group has the same row sums, so the sums run over groups (`Σ_h w_h·K_gh`) and
//!    the logarithms are weighted by `w_g`: exactly the per-sample formula, in fewer terms.
//! 2. **Cutoff.** With `x = D/(8σ²)` (`D` the squared distance), pairs with `x > X = ln N + 30`
//!    are left out. Every row sum holds its own group's term `w_g·e⁰ ≥ 1`, and the left-out
//!    terms add up to at most `N·e^−X = e^−30`, so each `ln S` moves by at most
//!    `e^−30 ≈ 9.4·10⁻¹⁴` and each reported value by at most `2·e^−30/ln 2 ≈ 2.7·10⁻¹³` bits
//!    (a margin of 40 instead of 30, `≤ 1.2·10⁻¹⁷` bits, cost 8 % more instructions on the
//!    activations of a `tishby_tanh` run; the tests allow `10⁻⁹` bits).
//! 3. **Tiles.** The groups are ordered along a k-d tree and cut into tiles of 64
//!    ([`super::tiles`]); pairs of tiles whose boxes are farther apart than the cutoff radius are
//!    never visited, which leaves out only pairs beyond the cutoff (so the sums are exactly those
//!    over all pairs with `x ≤ X`).
//! 4. **Kernel** ([`super::kernel`]). Distances are `f64` direct differences
//!    `Σ_k (t_gk − t_hk)²` (no cancellation: relative error `≤ d·2⁻⁵³`, entering `x` as
//!    `≤ d·2⁻⁵³·X` absolute), eight groups per block in a block-major layout; blocks whose eight
//!    `x` all exceed `X` are skipped after one comparison. `K = exp(−x)` by the crate's
//!    branch-free `exp` and `K⁴ = (K²)²` give both bounds from one `exp`, and `K_gh = K_hg`
//!    serves both rows of the pair.
//! 5. **Classes.** Every group's samples share one class, so the same pass also forms each
//!    row's sum over its own class (a lane mask on the class), which is all `I(T;Y)` needs.
//! 6. **Determinism.** Every row's sums are added in a fixed order whichever thread computed
//!    which part (see [`super::kernel`]), and the logarithms are added in group order: the
//!    results are identical at every thread count and instruction set. The totals do not depend
//!    on the labels, so unless equal rows carry different labels (then they are separate groups
//!    in `kde_mi` and one in `kde_entropy`, a different rounding of the same sums)
//!    `kde_entropy` equals `kde_mi`'s `I(X;T)` to the bit.

use std::collections::BTreeMap;

use super::kernel::{Kernel, NoClasses, Points, WithClasses, LANES};
use super::neg_log_mean;
use super::tiles::kd_order;
use crate::rows::Isa;

/// The cutoff beyond `ln N` (see the module docs): left-out terms sum to at most `e^−30`.
const CUTOFF_MARGIN: f64 = 30.0;

/// `F(2σ²)`, `F(8σ²)` over all samples and `Σ_y p(y)·F_y` at both scales, in nats.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Terms {
    pub f_upper: f64,
    pub f_lower: f64,
    pub cond_upper: f64,
    pub cond_lower: f64,
}

/// The KDE terms of the row-major `[n, d]` samples `rows` (finite) with `labels` (`None`: no
/// class terms, which are then 0) at noise variance `sigma2`, on the CPU with the kernel compiled
/// for `isa` (one of `rows::supported_isas`), on `threads` threads.
pub(super) fn kde_terms(
    rows: &[f64],
    d: usize,
    labels: Option<&[u32]>,
    sigma2: f64,
    isa: Isa,
    threads: usize,
) -> Terms {
    let n = rows.len() / d;
    let groups = Groups::new(rows, d, labels);
    let ln_n = (n as f64).ln();
    let x_cut = ln_n + CUTOFF_MARGIN;
    let kernel = Kernel::new(groups.points(), sigma2, x_cut, isa);
    let sums = match labels {
        Some(_) => kernel.sums(WithClasses, isa, threads),
        None => kernel.sums(NoClasses, isa, threads),
    };
    let (mut f_upper, mut f_lower) = (0.0, 0.0);
    for (s, &w) in sums.iter().zip(&groups.weight) {
        f_upper += w * neg_log_mean(s[0], ln_n);
        f_lower += w * neg_log_mean(s[1], ln_n);
    }
    let (cond_upper, cond_lower) = match labels {
        Some(_) => groups.class_terms(&sums),
        None => (0.0, 0.0),
    };
    Terms {
        f_upper: f_upper / n as f64,
        f_lower: f_lower / n as f64,
        cond_upper,
        cond_lower,
    }
}

/// The distinct samples (equal rows of equal class) in k-d tree order, with their weights and
/// classes.
struct Groups {
    d: usize,
    /// Number of groups.
    m: usize,
    /// `[m, d]` row-major coordinates.
    rows: Vec<f64>,
    /// Block-major coordinates (see [`Points::blocks`]).
    blocks: Vec<f64>,
    /// Weight (sample count) of each group, padded with 0 to a multiple of `LANES`.
    weight: Vec<f64>,
    /// Class index (into `class_sizes`) of each group's samples, padded with −1.
    class: Vec<f64>,
    /// Samples per class, in increasing label order.
    class_sizes: Vec<f64>,
}

/// The `[m, d]` rows with their coordinates reordered by decreasing variance (ties in
/// coordinate order). Squared distances are sums over the coordinates, so this changes them only
/// by the rounding of the summation order; the kernel's partial-distance test then leaves far
/// blocks after the most telling coordinates.
fn by_decreasing_variance(rows: &[f64], d: usize) -> Vec<f64> {
    let m = (rows.len() / d) as f64;
    let mut mean = vec![0.0; d];
    for row in rows.chunks_exact(d) {
        for (s, &v) in mean.iter_mut().zip(row) {
            *s += v;
        }
    }
    mean.iter_mut().for_each(|s| *s /= m);
    let mut var = vec![0.0; d];
    for row in rows.chunks_exact(d) {
        for ((s, &v), &mu) in var.iter_mut().zip(row).zip(&mean) {
            *s += (v - mu) * (v - mu);
        }
    }
    let mut columns: Vec<usize> = (0..d).collect();
    columns.sort_by(|&a, &b| var[b].total_cmp(&var[a]).then(a.cmp(&b)));
    rows.chunks_exact(d)
        .flat_map(|row| columns.iter().map(move |&k| row[k]))
        .collect()
}

impl Groups {
    fn new(rows: &[f64], d: usize, labels: Option<&[u32]>) -> Self {
        let n = rows.len() / d;
        // `+ 0.0` turns −0 into +0, so that equal values compare equal under `total_cmp`.
        let rows: Vec<f64> = rows.iter().map(|&v| v + 0.0).collect();
        let row = |i: usize| &rows[i * d..(i + 1) * d];
        // Class indices in increasing label order.
        let mut index: BTreeMap<u32, usize> = BTreeMap::new();
        for &y in labels.unwrap_or_default() {
            index.entry(y).or_insert(0);
        }
        let mut class_sizes = vec![0.0; index.len().max(1)];
        for (k, v) in index.values_mut().enumerate() {
            *v = k;
        }
        let class_of = |i: usize| labels.map_or(0, |y| index[&y[i]]);
        // Equal samples (row and class) next to each other, then merged.
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_unstable_by(|&i, &j| {
            row(i)
                .iter()
                .zip(row(j))
                .map(|(u, v)| u.total_cmp(v))
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(class_of(i).cmp(&class_of(j)))
        });
        let (mut distinct, mut weight, mut class) = (Vec::new(), Vec::new(), Vec::new());
        let mut last: Option<usize> = None;
        for &i in &order {
            class_sizes[class_of(i)] += 1.0;
            match last {
                Some(j) if row(i) == row(j) && class_of(i) == class_of(j) => {
                    if let Some(w) = weight.last_mut() {
                        *w += 1.0;
                    }
                }
                _ => {
                    distinct.extend_from_slice(row(i));
                    weight.push(1.0);
                    class.push(class_of(i) as f64);
                    last = Some(i);
                }
            }
        }
        let m = weight.len();
        let distinct = by_decreasing_variance(&distinct, d);
        // The k-d tree order of the groups.
        let kd = kd_order(&distinct, d);
        let rows: Vec<f64> = kd
            .iter()
            .flat_map(|&g| distinct[g * d..(g + 1) * d].iter().copied())
            .collect();
        let padded = m.div_ceil(LANES) * LANES;
        let mut weight: Vec<f64> = kd.iter().map(|&g| weight[g]).collect();
        weight.resize(padded, 0.0);
        let mut class: Vec<f64> = kd.iter().map(|&g| class[g]).collect();
        class.resize(padded, -1.0);
        let mut blocks = vec![0.0; padded * d];
        for (g, coords) in rows.chunks_exact(d).enumerate() {
            let block = &mut blocks[g / LANES * LANES * d..];
            for (k, &v) in coords.iter().enumerate() {
                block[k * LANES + g % LANES] = v;
            }
        }
        Groups {
            d,
            m,
            rows,
            blocks,
            weight,
            class,
            class_sizes,
        }
    }

    /// The kernel's view of the groups.
    fn points(&self) -> Points<'_> {
        Points {
            d: self.d,
            m: self.m,
            rows: &self.rows,
            blocks: &self.blocks,
            weight: &self.weight,
            class: &self.class,
        }
    }

    /// `Σ_y p(y)·F_y` at both scales from the same-class sums (`sums[g][2..]`):
    /// `F_y = −(1/N_y) Σ_{g∈y} w_g ln(S_g/N_y)`, each class's terms added in group order, the
    /// classes in label order.
    fn class_terms(&self, sums: &[[f64; 4]]) -> (f64, f64) {
        let n: f64 = self.class_sizes.iter().sum();
        let ln_sizes: Vec<f64> = self.class_sizes.iter().map(|s| s.ln()).collect();
        let mut per_class = vec![[0.0f64; 2]; self.class_sizes.len()];
        for ((s, &w), &c) in sums.iter().zip(&self.weight).zip(&self.class) {
            let c = c as usize;
            per_class[c][0] += w * neg_log_mean(s[2], ln_sizes[c]);
            per_class[c][1] += w * neg_log_mean(s[3], ln_sizes[c]);
        }
        let (mut cond_upper, mut cond_lower) = (0.0, 0.0);
        for (f, &size) in per_class.iter().zip(&self.class_sizes) {
            let p = size / n;
            cond_upper += p * (f[0] / size);
            cond_lower += p * (f[1] / size);
        }
        (cond_upper, cond_lower)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows;
    use crate::test_values::uniform;

    /// The same bits at 1, 2, 3 and 8 threads and at every instruction set the CPU supports:
    /// spread and duplicate-heavy rows, labels, σ² from "nearly every pair cut off" to "none".
    #[test]
    fn identical_at_every_thread_count_and_instruction_set() {
        let (n, d) = (700, 3);
        let mut next = uniform(7);
        // The first half of the rows coarse (exact duplicates, some with different labels, so
        // groups of weight > 1), the second half spread.
        let rows: Vec<f64> = (0..n * d)
            .map(|e| match e < n * d / 2 {
                true => (next() * 3.0).floor() - 1.0,
                false => next() * 2.0 - 1.0,
            })
            .collect();
        let labels: Vec<u32> = (0..n).map(|_| (next() * 3.0) as u32).collect();
        assert!(
            Groups::new(&rows, d, Some(&labels)).m < n * 3 / 4,
            "too few duplicates"
        );
        for sigma2 in [1e-4, 1e-2, 1.0, 1e3] {
            for y in [Some(&labels[..]), None] {
                let base = kde_terms(&rows, d, y, sigma2, Isa::Baseline, 1);
                for isa in rows::supported_isas() {
                    for threads in [1, 2, 3, 8] {
                        let got = kde_terms(&rows, d, y, sigma2, isa, threads);
                        let bits = |t: Terms| {
                            [t.f_upper, t.f_lower, t.cond_upper, t.cond_lower].map(f64::to_bits)
                        };
                        assert_eq!(bits(got), bits(base), "{isa:?} {threads} sigma2={sigma2}");
                    }
                }
            }
        }
    }

    /// The column sums added stripe by stripe give the same bits whatever the stripe size (one
    /// tile, a few, all), with and without classes, at 1 and 3 threads.
    #[test]
    fn stripes_do_not_change_the_bits() {
        let (n, d) = (900, 2);
        let mut next = uniform(11);
        let rows: Vec<f64> = (0..n * d).map(|_| next() * 2.0 - 1.0).collect();
        let labels: Vec<u32> = (0..n).map(|_| (next() * 2.0) as u32).collect();
        let groups = Groups::new(&rows, d, Some(&labels));
        let x_cut = (n as f64).ln() + CUTOFF_MARGIN;
        let kernel = Kernel::new(groups.points(), 0.01, x_cut, Isa::Baseline);
        let bits = |s: Vec<[f64; 4]>| -> Vec<[u64; 4]> {
            s.into_iter().map(|v| v.map(f64::to_bits)).collect()
        };
        let base = bits(kernel.sums(WithClasses, Isa::Baseline, 1));
        for stripe in [1, 2, 5, 1000] {
            for threads in [1, 3] {
                let with = kernel.sums_in_stripes(WithClasses, Isa::Baseline, threads, stripe);
                assert_eq!(bits(with), base, "stripe {stripe}, {threads} threads");
            }
        }
        let plain = bits(kernel.sums(NoClasses, Isa::Baseline, 1));
        let striped = kernel.sums_in_stripes(NoClasses, Isa::Baseline, 2, 3);
        assert_eq!(bits(striped), plain);
    }
}
