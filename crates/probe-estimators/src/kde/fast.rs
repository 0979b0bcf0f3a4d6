//! The fast CPU path of the KDE bounds: exact deduplication, a cutoff radius with a sweep over
//! sorted samples, one vectorised pass that forms both bounds' row sums, rows split over the
//! cores. `I(T;Y)` runs the whole path once more on each class's rows.
//!
//! 1. **Deduplication.** Samples with the same row form one group of weight `w_g` (their
//!    count); a saturated `tanh` layer has few distinct rows. Every sample of a group has the
//!    same row sums, so the sums run over groups (`Σ_h w_h·K_gh`) and the logarithms are
//!    weighted by `w_g`: exactly the per-sample formula, in fewer terms.
//! 2. **Cutoff.** With `x = D/(8σ²)` (`D` the squared distance), pairs with `x > X = ln N + 40`
//!    are left out. Every row sum holds its own group's term `w_g·e⁰ ≥ 1`, and the left-out
//!    terms add up to at most `N·e^−X = e^−40`, so each `ln S` moves by at most
//!    `e^−40 ≈ 4.2·10⁻¹⁸` and each reported value by at most `2·e^−40/ln 2 ≈ 1.2·10⁻¹⁷` bits.
//! 3. **Sweep.** Groups are sorted by the coordinate with the widest range (the *axis*). Pairs
//!    with `x ≤ X` lie within `r = √(8σ²·X)` of each other on every coordinate, so row `g` only
//!    visits the groups whose axis value is within `r` of its own (two binary searches; `r` is
//!    enlarged by `10⁻⁹` relative against rounding, and the `x ≤ X` test per pair decides, so the
//!    sums are exactly those over all pairs with `x ≤ X`). In low dimensions at small `σ²` this
//!    visits a fraction of the pairs; in high dimensions it visits about all of them.
//! 4. **Kernel.** Distances are `f64` direct differences `Σ_k (t_gk − t_hk)²` (no cancellation:
//!    relative error `≤ d·2⁻⁵³`, entering `x` as `≤ d·2⁻⁵³·X` absolute), eight groups per block
//!    in a block-major layout; blocks whose eight `x` all exceed `X` are skipped after one
//!    comparison. `K = exp(−x)` by the crate's branch-free `exp` and `K⁴ = (K²)²` give both
//!    bounds from one `exp`. The loop is
//!    compiled for AVX-512, AVX2 and the baseline (chosen at run time), IEEE `f64` without fused
//!    operations, so every instruction set gives the same bits.
//! 5. **Determinism.** Each row's sums are formed by one thread in a fixed order (8 lanes added
//!    in a fixed order at the end), whichever thread takes it; the logarithms are added in group
//!    order. The results are identical at every thread count.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::neg_log_mean;
use crate::fast_exp;
use crate::rows::Isa;

/// `f64` lanes of the kernel loop (one block of groups).
const LANES: usize = 8;

/// Rows per unit of work handed to a thread.
const ROWS_PER_TASK: usize = 32;

/// The cutoff beyond `ln N` (see the module docs): left-out terms sum to at most `e^−40`.
const CUTOFF_MARGIN: f64 = 40.0;

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
    let (f_upper, f_lower) = entropy_terms(rows, d, sigma2, isa, threads);
    let (mut cond_upper, mut cond_lower) = (0.0, 0.0);
    let mut classes: BTreeMap<u32, Vec<f64>> = BTreeMap::new();
    for (row, &y) in rows.chunks_exact(d).zip(labels.unwrap_or_default()) {
        classes.entry(y).or_default().extend_from_slice(row);
    }
    for class in classes.values() {
        let p = (class.len() / d) as f64 / n as f64;
        let (u, l) = entropy_terms(class, d, sigma2, isa, threads);
        cond_upper += p * u;
        cond_lower += p * l;
    }
    Terms {
        f_upper,
        f_lower,
        cond_upper,
        cond_lower,
    }
}

/// `(F(2σ²), F(8σ²))` in nats of the row-major `[m, d]` samples `rows` (see [`kde_terms`]).
fn entropy_terms(rows: &[f64], d: usize, sigma2: f64, isa: Isa, threads: usize) -> (f64, f64) {
    let m = rows.len() / d;
    let groups = Groups::new(rows, d);
    let x_cut = (m as f64).ln() + CUTOFF_MARGIN;
    let kernel = Kernel {
        groups: &groups,
        inv_s: 1.0 / (8.0 * sigma2),
        x_cut,
        radius: (8.0 * sigma2 * x_cut).sqrt() * (1.0 + 1e-9),
    };
    let sums = kernel.all_row_sums(isa, threads);
    // The logarithms weighted by the group sizes, added in group order.
    let ln_m = (m as f64).ln();
    let (mut f_upper, mut f_lower) = (0.0, 0.0);
    for (s, &w) in sums.iter().zip(&groups.weight) {
        f_upper += w * neg_log_mean(s[0], ln_m);
        f_lower += w * neg_log_mean(s[1], ln_m);
    }
    (f_upper / m as f64, f_lower / m as f64)
}

/// The distinct rows of the samples, sorted by their axis coordinate.
struct Groups {
    d: usize,
    /// Number of groups.
    m: usize,
    /// `[m, d]` row-major coordinates (for the row being summed).
    rows: Vec<f64>,
    /// Block-major coordinates for the kernel: block `b` holds `d` arrays of `LANES` values
    /// (coordinate `k` of groups `b·LANES …`); the padding groups have weight 0.
    blocks: Vec<f64>,
    /// Weight (sample count) of each group, padded with 0 to a multiple of `LANES`.
    weight: Vec<f64>,
    /// Axis coordinate of each group, ascending.
    axis: Vec<f64>,
}

impl Groups {
    fn new(rows: &[f64], d: usize) -> Self {
        let n = rows.len() / d;
        // `+ 0.0` turns −0 into +0, so that equal values compare equal under `total_cmp`.
        let rows: Vec<f64> = rows.iter().map(|&v| v + 0.0).collect();
        let row = |i: usize| &rows[i * d..(i + 1) * d];
        let axis = (0..d)
            .map(|k| {
                let column = (0..n).map(|i| rows[i * d + k]);
                let (lo, hi) = column.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                    (lo.min(v), hi.max(v))
                });
                (k, hi - lo)
            })
            .fold((0, f64::NEG_INFINITY), |best, (k, w)| {
                if w > best.1 {
                    (k, w)
                } else {
                    best
                }
            })
            .0;
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_unstable_by(|&i, &j| {
            let (a, b) = (row(i), row(j));
            a[axis].total_cmp(&b[axis]).then_with(|| {
                a.iter()
                    .zip(b)
                    .map(|(u, v)| u.total_cmp(v))
                    .find(|o| o.is_ne())
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
        });
        let mut groups = Groups {
            d,
            m: 0,
            rows: Vec::new(),
            blocks: Vec::new(),
            weight: Vec::new(),
            axis: Vec::new(),
        };
        let mut last: Option<usize> = None;
        for &i in &order {
            match last {
                Some(j) if row(i) == row(j) => {
                    if let Some(w) = groups.weight.last_mut() {
                        *w += 1.0;
                    }
                }
                _ => {
                    groups.rows.extend_from_slice(row(i));
                    groups.weight.push(1.0);
                    groups.axis.push(row(i)[axis]);
                    last = Some(i);
                }
            }
        }
        groups.m = groups.weight.len();
        let padded = groups.m.div_ceil(LANES) * LANES;
        groups.weight.resize(padded, 0.0);
        groups.blocks = vec![0.0; padded * d];
        for (g, coords) in groups.rows.chunks_exact(d).enumerate() {
            let block = &mut groups.blocks[g / LANES * LANES * d..];
            for (k, &v) in coords.iter().enumerate() {
                block[k * LANES + g % LANES] = v;
            }
        }
        groups
    }
}

/// The kernel sums over [`Groups`] at one noise variance.
struct Kernel<'a> {
    groups: &'a Groups,
    /// `1/(8σ²)`.
    inv_s: f64,
    /// Cutoff `X` on `x = D/(8σ²)`.
    x_cut: f64,
    /// `√(8σ²·X)`, slightly enlarged: the half-width of the sweep window.
    radius: f64,
}

impl Kernel<'_> {
    /// `[Σ_h w_h K⁴_gh, Σ_h w_h K_gh]` for every group `g`, on `threads` threads (each row
    /// computed whole by one of them).
    fn all_row_sums(&self, isa: Isa, threads: usize) -> Vec<[f64; 2]> {
        let m = self.groups.m;
        let mut sums = vec![[0.0f64; 2]; m];
        let fill = |first: usize, out: &mut [[f64; 2]]| {
            for (r, s) in out.iter_mut().enumerate() {
                *s = row_sums(isa, self, first + r);
            }
        };
        let threads = threads.clamp(1, m.div_ceil(ROWS_PER_TASK));
        if threads == 1 {
            fill(0, &mut sums);
            return sums;
        }
        let tasks = Mutex::new(sums.chunks_mut(ROWS_PER_TASK).enumerate());
        let work = || loop {
            // A poisoned lock means another worker panicked; that panic propagates from `scope`.
            let Some((t, out)) = tasks.lock().ok().and_then(|mut it| it.next()) else {
                return;
            };
            fill(t * ROWS_PER_TASK, out);
        };
        std::thread::scope(|scope| {
            for _ in 1..threads {
                scope.spawn(work);
            }
            work();
        });
        sums
    }
}

/// The four sums of [`Kernel::all_row_sums`] for group `g` (see the module docs).
#[inline(always)]
fn row_sums_body(kernel: &Kernel, g: usize) -> [f64; 2] {
    let groups = kernel.groups;
    let d = groups.d;
    let p = groups.axis[g];
    let lo = groups.axis.partition_point(|&q| q < p - kernel.radius) / LANES;
    let hi = groups
        .axis
        .partition_point(|&q| q <= p + kernel.radius)
        .div_ceil(LANES);
    let own_row = &groups.rows[g * d..(g + 1) * d];
    let (blocks, _) = groups.blocks[lo * LANES * d..hi * LANES * d].as_chunks::<LANES>();
    let (weights, _) = groups.weight[lo * LANES..hi * LANES].as_chunks::<LANES>();
    let mut acc = [[0.0f64; LANES]; 2];
    for (block, w) in blocks.chunks_exact(d).zip(weights) {
        let mut dist = [0.0f64; LANES];
        for (&a, coords) in own_row.iter().zip(block) {
            for (s, &b) in dist.iter_mut().zip(coords) {
                let t = a - b;
                *s += t * t;
            }
        }
        let mut xs = [0.0f64; LANES];
        for (x, &s) in xs.iter_mut().zip(&dist) {
            *x = s * kernel.inv_s;
        }
        if xs.iter().fold(true, |far, &x| far & (x > kernel.x_cut)) {
            continue;
        }
        for l in 0..LANES {
            let x = xs[l];
            // Computed for every lane and then selected (branch-free); the argument is clamped
            // so that neither K nor K⁴ is ever subnormal.
            let k = fast_exp::exp(-(if x < kernel.x_cut { x } else { kernel.x_cut }));
            let k = if x <= kernel.x_cut { k } else { 0.0 };
            acc[0][l] += w[l] * ((k * k) * (k * k));
            acc[1][l] += w[l] * k;
        }
    }
    acc.map(|lanes| lanes.iter().fold(0.0, |s, &v| s + v))
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::*;

    /// [`row_sums_body`] compiled for AVX2. Safety: the CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn row_sums(kernel: &Kernel, g: usize) -> [f64; 2] {
        row_sums_body(kernel, g)
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::*;

    /// [`row_sums_body`] compiled for AVX-512. Safety: the CPU must support AVX-512 F/DQ/VL/BW,
    /// AVX2 and FMA.
    #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")]
    pub(super) unsafe fn row_sums(kernel: &Kernel, g: usize) -> [f64; 2] {
        row_sums_body(kernel, g)
    }
}

/// [`row_sums_body`] with the code for `isa` (IEEE `f64` without fused operations: the same
/// bits at every instruction set).
fn row_sums(isa: Isa, kernel: &Kernel, g: usize) -> [f64; 2] {
    match isa {
        // SAFETY: `isa` comes from `rows::supported_isas()`/`rows::isa()`, which give Avx2 only
        // after detecting AVX2 and FMA on this CPU.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { avx2::row_sums(kernel, g) },
        // SAFETY: as above, Avx512 only after detecting every feature it enables.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { avx512::row_sums(kernel, g) },
        Isa::Baseline => row_sums_body(kernel, g),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows;

    /// The same bits at 1, 2, 3 and 8 threads and at every instruction set the CPU supports:
    /// spread and duplicate-heavy rows, labels, σ² from "nearly every pair cut off" to "none".
    #[test]
    fn identical_at_every_thread_count_and_instruction_set() {
        let (n, d) = (700, 3);
        let mut state = 7u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        // Half the values coarse (exact duplicates), half spread.
        let rows: Vec<f64> = (0..n * d)
            .map(|e| match e % 2 {
                0 => (next() * 3.0).floor() - 1.0,
                _ => next() * 2.0 - 1.0,
            })
            .collect();
        let labels: Vec<u32> = (0..n).map(|_| (next() * 3.0) as u32).collect();
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
}
