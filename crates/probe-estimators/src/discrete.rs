//! Plug-in entropies and mutual information of discrete symbol sequences, in **bits**.
//!
//! Inputs are sequences of `u32` symbol ids, one per sample (any ids, not necessarily dense; e.g.
//! from [`crate::binned_symbols`] / [`crate::exact_symbols`] or class labels). Probabilities are
//! empirical frequencies: `H(A) = Σ_a p(a) log2 1/p(a)` with `p(a) = count(a) / n`.
//!
//! Numerics: every entropy is a sum of non-negative terms `(c/n)·log2(g/c)` (`g = n` for `H(A)`,
//! `g = count(b)` for `H(A|B)`), summed after sorting the `(c, g)` pairs, so results never go
//! negative, are exactly 0 for a constant (or functionally determined) sequence, are exactly
//! `k` for `2^k` equiprobable symbols, and do not depend on sample order or on how ids are labelled.
//!
//! ```
//! use probe_estimators::{entropy_bits, mutual_information_bits};
//! assert_eq!(entropy_bits(&[0, 1, 2, 3]), 2.0);
//! assert_eq!(entropy_bits(&[7, 7, 8, 9]), 1.5); // p = (1/2, 1/4, 1/4)
//! assert_eq!(mutual_information_bits(&[0, 0, 1, 1], &[5, 5, 6, 6]).unwrap(), 1.0);
//! ```

use crate::error::{Error, Result};
use crate::tally::tally;

/// Tolerance below which a negative difference of entropies is taken as rounding and set to 0.
const ROUNDING: f64 = 1e-12;

/// Sets `x` to 0 when it is negative only by rounding (`-1e-12 < x < 0`).
pub(crate) fn clamp_rounding(x: f64) -> f64 {
    if x < 0.0 && x > -ROUNDING {
        0.0
    } else {
        x
    }
}

/// One step of Neumaier's compensated summation: adds `term` to the running `sum` and the lost
/// low-order part to `comp` (the total is `sum + comp`). Shared so that [`crate::counts`] sums its
/// runs with exactly the arithmetic of [`sum_terms`] (bit-identical entropies).
#[inline]
pub(crate) fn neumaier_add(sum: &mut f64, comp: &mut f64, term: f64) {
    let t = *sum + term;
    *comp += if sum.abs() >= term.abs() {
        (*sum - t) + term
    } else {
        (term - t) + *sum
    };
    *sum = t;
}

/// `Σ (c/n)·log2(g/c)` over `(c, g)` pairs (`0 < c <= g`), summed in sorted order with runs of
/// equal pairs merged, so the result depends only on the multiset of pairs.
fn sum_terms(terms: &mut [(u64, u64)], n: u64) -> f64 {
    terms.sort_unstable();
    let mut acc = Sum::new(n);
    let mut i = 0;
    while i < terms.len() {
        let (c, g) = terms[i];
        let mut j = i + 1;
        while j < terms.len() && terms[j] == (c, g) {
            j += 1;
        }
        acc.add((j - i) as u64, c, g);
        i = j;
    }
    acc.total()
}

/// Neumaier sum of the runs of `(c, g)` terms, fed in sorted order.
struct Sum {
    n: f64,
    sum: f64,
    comp: f64,
}

impl Sum {
    fn new(n: u64) -> Self {
        Self {
            n: n as f64,
            sum: 0.0,
            comp: 0.0,
        }
    }

    /// Adds a run of `mult` equal terms `(c, g)`.
    #[inline]
    fn add(&mut self, mult: u64, c: u64, g: u64) {
        let term = (mult as f64 * c as f64 / self.n) * (g as f64 / c as f64).log2();
        neumaier_add(&mut self.sum, &mut self.comp, term);
    }

    fn total(&self) -> f64 {
        self.sum + self.comp
    }
}

/// [`sum_terms`] without sorting every term, for `n <= u32::MAX` (so `c, g < 2^32`): terms with
/// `c = 1` (most of them when most rows are distinct) are counted per `g` in a dense array, the
/// others packed as `c << 32 | g` and sorted. Feeding the `c = 1` runs by ascending `g` and then
/// the sorted rest is exactly the sorted order of all pairs with equal pairs merged, so the sum
/// is bit-identical to [`sum_terms`].
struct Terms {
    n: u64,
    /// `ones[g]`: how many `(1, g)` terms.
    ones: Vec<u32>,
    /// The `g`s with `ones[g] > 0`.
    ones_at: Vec<u32>,
    /// `c << 32 | g` of the terms with `c >= 2`.
    rest: Vec<u64>,
}

impl Terms {
    fn new(n: usize) -> Self {
        Self {
            n: n as u64,
            ones: vec![0; n + 1],
            ones_at: Vec::new(),
            rest: Vec::new(),
        }
    }

    #[inline]
    fn push(&mut self, c: u32, g: u32) {
        if c == 1 {
            self.push_ones(1, g);
        } else {
            self.rest.push((c as u64) << 32 | g as u64);
        }
    }

    /// `m` terms `(1, g)` (none when `m = 0`).
    #[inline]
    fn push_ones(&mut self, m: u32, g: u32) {
        if m == 0 {
            return;
        }
        let at = &mut self.ones[g as usize];
        if *at == 0 {
            self.ones_at.push(g);
        }
        *at += m;
    }

    fn sum(mut self) -> f64 {
        let mut acc = Sum::new(self.n);
        self.ones_at.sort_unstable();
        for &g in &self.ones_at {
            acc.add(self.ones[g as usize] as u64, 1, g as u64);
        }
        self.rest.sort_unstable();
        for run in self.rest.chunk_by(|a, b| a == b) {
            acc.add(run.len() as u64, run[0] >> 32, run[0] & 0xFFFF_FFFF);
        }
        acc.total()
    }
}

/// Entropy in bits of the distribution given by `counts` (zero counts are ignored; all-zero or
/// empty counts give 0).
pub fn entropy_from_counts(counts: &[u64]) -> f64 {
    let n: u64 = counts.iter().sum();
    if n <= u32::MAX as u64 {
        // Every term is `(c, n)`: in sorted order, the run of `c = 1`, then the larger counts
        // (sorted without the ones, which are most of them when most rows are distinct).
        let ones = counts.iter().filter(|&&c| c == 1).count() as u64;
        let mut rest: Vec<u64> = counts.iter().copied().filter(|&c| c > 1).collect();
        rest.sort_unstable();
        let mut acc = Sum::new(n);
        if ones > 0 {
            acc.add(ones, 1, n);
        }
        for run in rest.chunk_by(|a, b| a == b) {
            acc.add(run.len() as u64, run[0], n);
        }
        return acc.total();
    }
    let mut terms: Vec<(u64, u64)> = counts.iter().filter(|&&c| c > 0).map(|&c| (c, n)).collect();
    sum_terms(&mut terms, n)
}

/// Occurrence count of every id that occurs (order unspecified).
fn counts_of(ids: &[u32]) -> Vec<u64> {
    let max = ids.iter().copied().max().unwrap_or(0) as usize;
    if max <= 4 * ids.len() + 1024 {
        let counts = tally(ids.len(), max + 1, |i| ids[i] as usize);
        counts
            .into_iter()
            .filter(|&c| c > 0)
            .map(u64::from)
            .collect()
    } else {
        let mut sorted = ids.to_vec();
        sorted.sort_unstable();
        sorted
            .chunk_by(|a, b| a == b)
            .map(|r| r.len() as u64)
            .collect()
    }
}

/// Entropy `H(A)` in bits of a symbol sequence (plug-in, `Σ p log2 1/p`); 0 for an empty sequence.
pub fn entropy_bits(ids: &[u32]) -> f64 {
    entropy_from_counts(&counts_of(ids))
}

/// `(given << 32) | a` for every sample, sorted: groups by `given`, then by `a`.
pub(crate) fn sorted_pairs(a: &[u32], given: &[u32], what: &'static str) -> Result<Vec<u64>> {
    if a.len() != given.len() {
        return Err(Error::LengthMismatch {
            what,
            expected: a.len(),
            got: given.len(),
        });
    }
    let mut keys: Vec<u64> = a
        .iter()
        .zip(given)
        .map(|(&a, &b)| ((b as u64) << 32) | a as u64)
        .collect();
    keys.sort_unstable();
    Ok(keys)
}

/// Joint entropy `H(A, B)` in bits; errors if the lengths differ.
pub fn joint_entropy_bits(a: &[u32], b: &[u32]) -> Result<f64> {
    let keys = sorted_pairs(a, b, "b")?;
    let counts: Vec<u64> = keys
        .chunk_by(|x, y| x == y)
        .map(|r| r.len() as u64)
        .collect();
    Ok(entropy_from_counts(&counts))
}

/// Conditional entropy `H(A | B) = H(A, B) - H(B)` in bits, computed directly as
/// `Σ_(a,b) p(a,b) log2(p(b) / p(a,b))` (exactly 0 when `A` is a function of `B`); errors if the
/// lengths differ.
pub fn conditional_entropy_bits(a: &[u32], given: &[u32]) -> Result<f64> {
    match conditional_entropy_dense(a, given) {
        Some(h) => Ok(h),
        None => conditional_entropy_sorted(a, given),
    }
}

/// [`conditional_entropy_bits`] for any ids: the `(given, a)` pairs sorted.
fn conditional_entropy_sorted(a: &[u32], given: &[u32]) -> Result<f64> {
    let keys = sorted_pairs(a, given, "given")?;
    let mut terms = Vec::new();
    for group in keys.chunk_by(|x, y| x >> 32 == y >> 32) {
        let g = group.len() as u64;
        terms.extend(group.chunk_by(|x, y| x == y).map(|r| (r.len() as u64, g)));
    }
    Ok(sum_terms(&mut terms, keys.len() as u64))
}

/// [`conditional_entropy_bits`] by counting instead of sorting, for equal lengths `n <= u32::MAX`
/// and ids small enough to index dense arrays (as [`counts_of`] requires; e.g. dense symbols and
/// labels), summed by [`Terms`]: the same multiset of `(c, g)` terms as the sorting path, hence
/// the same bits. `None` when it does not apply.
///
/// With `ka · kb` at most [`JOINT_SLOTS`] per sample (labels, or layers with few distinct rows)
/// the pairs are counted in one joint table ([`joint_terms`]); otherwise the samples are bucketed
/// by `given` (counting sort) and each bucket's `a`s counted ([`bucket_terms`]).
fn conditional_entropy_dense(a: &[u32], given: &[u32]) -> Option<f64> {
    let n = a.len();
    let dense = |ids: &[u32]| {
        let max = ids.iter().copied().max().unwrap_or(0) as usize;
        (max <= 4 * n + 1024).then_some(max + 1)
    };
    if n != given.len() || n > u32::MAX as usize {
        return None;
    }
    if given.iter().enumerate().all(|(i, &g)| g as usize == i) {
        // Every sample its own condition (e.g. distinct inputs): n terms (1, 1), one run.
        let mut acc = Sum::new(n as u64);
        if n > 0 {
            acc.add(n as u64, 1, 1);
        }
        return Some(acc.total());
    }
    let (ka, kb) = (dense(a)?, dense(given)?);
    let terms = match ka.checked_mul(kb) {
        Some(slots) if slots <= JOINT_SLOTS * n + 4096 => joint_terms(a, given, ka, kb),
        _ => bucket_terms(a, given, ka, kb),
    };
    Some(terms.sum())
}

/// Joint-table slots per sample up to which [`conditional_entropy_dense`] counts pairs in one
/// table (scanning it costs less than the samples' increments).
const JOINT_SLOTS: usize = 8;

/// The `(c, g)` terms of `H(A | B)` from the table of pair counts `joint[a · kb + b]`: `g` is
/// column `b`'s sum.
fn joint_terms(a: &[u32], given: &[u32], ka: usize, kb: usize) -> Terms {
    let joint = tally(a.len(), ka * kb, |i| a[i] as usize * kb + given[i] as usize);
    let mut g = vec![0u32; kb];
    let mut ones = vec![0u32; kb];
    for row in joint.chunks_exact(kb) {
        for ((g, ones), &c) in g.iter_mut().zip(&mut ones).zip(row) {
            *g += c;
            *ones += u32::from(c == 1);
        }
    }
    let mut terms = Terms::new(a.len());
    for row in joint.chunks_exact(kb) {
        for (&g, &c) in g.iter().zip(row) {
            if c > 1 {
                terms.push(c, g);
            }
        }
    }
    for (&g, &m) in g.iter().zip(&ones) {
        terms.push_ones(m, g);
    }
    terms
}

/// The `(c, g)` terms of `H(A | B)` by bucketing the samples by `given` (counting sort) and
/// counting each bucket's `a`s in a dense array.
fn bucket_terms(a: &[u32], given: &[u32], ka: usize, kb: usize) -> Terms {
    let n = a.len();
    // start[b]..start[b + 1]: bucket b of `order` (the a's of the samples with given = b).
    let sizes = tally(n, kb, |i| given[i] as usize);
    let mut start = vec![0u32; kb + 1];
    for b in 0..kb {
        start[b + 1] = start[b] + sizes[b];
    }
    let mut fill = start.clone();
    let mut order = vec![0u32; n];
    for (&x, &b) in a.iter().zip(given) {
        let f = &mut fill[b as usize];
        order[*f as usize] = x;
        *f += 1;
    }
    let mut count = vec![0u32; ka];
    let mut terms = Terms::new(n);
    for b in 0..kb {
        let bucket = &order[start[b] as usize..start[b + 1] as usize];
        let g = bucket.len() as u32;
        for &x in bucket {
            count[x as usize] += 1;
        }
        // Each distinct `a` of the bucket once (at its first sample, whose count is then
        // cleared); the `c = 1` terms counted here and added to `terms` in one step.
        let mut ones = 0u32;
        for &x in bucket {
            let c = std::mem::take(&mut count[x as usize]);
            match c {
                0 => {}
                1 => ones += 1,
                _ => terms.push(c, g),
            }
        }
        terms.push_ones(ones, g);
    }
    terms
}

/// Mutual information `I(A; B) = H(A) + H(B) - H(A, B)` in bits; negatives of magnitude below
/// `1e-12` (rounding) are returned as 0. Errors if the lengths differ.
pub fn mutual_information_bits(a: &[u32], b: &[u32]) -> Result<f64> {
    let h_ab = joint_entropy_bits(a, b)?;
    Ok(clamp_rounding(entropy_bits(a) + entropy_bits(b) - h_ab))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_forms() {
        for k in 0..=12u32 {
            let ids: Vec<u32> = (0..1u32 << k).collect();
            assert_eq!(entropy_bits(&ids), k as f64, "uniform over 2^{k}");
        }
        assert_eq!(entropy_from_counts(&[2, 1, 1]), 1.5);
        assert_eq!(entropy_from_counts(&[0, 5, 0]), 0.0);
        assert_eq!(entropy_from_counts(&[]), 0.0);
        assert_eq!(entropy_bits(&[]), 0.0);
        // Binary entropy of p = 1/3: log2 3 - 2/3.
        assert!((entropy_from_counts(&[1, 2]) - (3f64.log2() - 2.0 / 3.0)).abs() < 1e-15);
        // Sparse ids take the sorting path and give the same answer.
        assert_eq!(entropy_bits(&[u32::MAX, 0, u32::MAX, 9]), 1.5);
    }

    #[test]
    fn results_do_not_depend_on_order_or_labels_to_the_bit() {
        // Terms are sorted (and the sum compensated), so reordering counts or relabelling ids changes
        // nothing, not even the last bit (callers compare runs and permuted data with `==`).
        let counts: Vec<u64> = (1..2000).map(|i| (i * 7919) % 1013 + 1).collect();
        let mut reversed = counts.clone();
        reversed.reverse();
        let mut rotated = counts.clone();
        rotated.rotate_left(777);
        let h = entropy_from_counts(&counts);
        assert_eq!(h.to_bits(), entropy_from_counts(&reversed).to_bits());
        assert_eq!(h.to_bits(), entropy_from_counts(&rotated).to_bits());
        let a: Vec<u32> = (0..5000u32).map(|i| (i * 31) % 97).collect();
        let b: Vec<u32> = (0..5000u32).map(|i| (i * 17) % 13).collect();
        let a2: Vec<u32> = a.iter().map(|&v| 96 - v).collect(); // relabelled
        let h1 = conditional_entropy_bits(&a, &b).unwrap();
        assert_eq!(
            h1.to_bits(),
            conditional_entropy_bits(&a2, &b).unwrap().to_bits()
        );
    }

    #[test]
    fn conditional_and_joint() {
        let a = [0, 0, 1, 1, 2, 2, 3, 3];
        let b = [0, 0, 0, 0, 1, 1, 1, 1];
        assert_eq!(joint_entropy_bits(&a, &b).unwrap(), 2.0);
        assert_eq!(conditional_entropy_bits(&a, &b).unwrap(), 1.0);
        assert_eq!(conditional_entropy_bits(&b, &a).unwrap(), 0.0);
        assert_eq!(mutual_information_bits(&a, &b).unwrap(), 1.0);
        assert!(matches!(
            joint_entropy_bits(&a, &b[1..]),
            Err(Error::LengthMismatch {
                expected: 8,
                got: 7,
                ..
            })
        ));
        assert!(conditional_entropy_bits(&a, &b[1..]).is_err());
        assert!(mutual_information_bits(&a[1..], &b).is_err());
    }

    /// Symbols `0..k` drawn with a skewed distribution (many rare, few frequent), so that terms
    /// with `c = 1` and larger counts mix.
    fn skewed(n: usize, k: u32, seed: u64) -> Vec<u32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = (s >> 33) as u32;
                (u % k).min(u % (k / 3 + 1) * 3)
            })
            .collect()
    }

    #[test]
    fn counting_paths_equal_the_sorting_paths_to_the_bit() {
        // The dense (counting) conditional entropy and the sort-free entropy of counts must give
        // the very bits of the sorting paths: the tables are compared byte for byte across runs.
        for (n, ka, kb) in [
            (1, 1, 1),
            (7, 3, 2),
            (4096, 4096, 2),
            (4096, 900, 4096),
            (5000, 40, 17),
            (1000, 1000, 40),
        ] {
            let a = skewed(n, ka, n as u64 + ka as u64);
            for seed in 0..40 {
                let b = skewed(n, kb, seed * 99 + kb as u64);
                for (x, y) in [(&a, &b), (&b, &a), (&a, &a)] {
                    let fast = conditional_entropy_dense(x, y).unwrap();
                    let slow = conditional_entropy_sorted(x, y).unwrap();
                    assert_eq!(
                        fast.to_bits(),
                        slow.to_bits(),
                        "n={n} ka={ka} kb={kb} {seed}"
                    );
                }
            }
            let distinct: Vec<u32> = (0..n as u32).collect();
            let h0 = conditional_entropy_dense(&a, &distinct).unwrap();
            let slow = conditional_entropy_sorted(&a, &distinct).unwrap();
            assert_eq!((h0.to_bits(), slow.to_bits()), (0, 0));
            let reversed: Vec<u32> = distinct.iter().rev().copied().collect();
            let h0 = conditional_entropy_dense(&a, &reversed).unwrap();
            assert_eq!(h0.to_bits(), 0);
            let counts = counts_of(&a);
            let mut terms: Vec<(u64, u64)> = counts.iter().map(|&c| (c, n as u64)).collect();
            let slow = sum_terms(&mut terms, n as u64);
            assert_eq!(
                entropy_from_counts(&counts).to_bits(),
                slow.to_bits(),
                "H, n={n}"
            );
        }
        // Sparse ids do not take the dense path (and the public function still answers).
        let sparse = [u32::MAX, 0, 5, u32::MAX];
        assert_eq!(conditional_entropy_dense(&sparse, &[0, 0, 1, 1]), None);
        assert_eq!(
            conditional_entropy_bits(&sparse, &[0, 0, 1, 1]).unwrap(),
            1.0
        );
    }

    #[test]
    fn clamp_only_touches_rounding() {
        assert_eq!(clamp_rounding(-1e-13), 0.0);
        assert_eq!(clamp_rounding(-1e-11), -1e-11);
        assert_eq!(clamp_rounding(0.5), 0.5);
    }
}
