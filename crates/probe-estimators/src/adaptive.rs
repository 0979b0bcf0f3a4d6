//! Adaptive (equal-mass) bin edges and the explicit edge-array binning rule.
//!
//! **Edges** (Chelombiev et al. 2019, "Adaptive estimators show information compression in deep
//! neural networks", as in their code): take every finite value of a layer (all samples and all
//! neurons pooled, recomputed for every layer at every measured epoch), sort them and keep the
//! `U` *distinct* values `u[0] < u[1] < … < u[U−1]` (`−0.0` and `0.0` are one value). For `B`
//! bins, the `B − 1` edges are
//!
//! ```text
//! e_k = u[⌊k·U / B⌋],   k = 1 … B − 1
//! ```
//!
//! so bin `j` holds the distinct levels of ranks `⌊j·U/B⌋ … ⌊(j+1)·U/B⌋ − 1`: every bin holds the
//! same number (±1) of distinct observed levels. Counting distinct levels rather than raw values
//! keeps saturated tanh units (many exact ±1.0) and dead ReLU units (many exact 0.0) from pulling
//! every edge onto one value; on data without ties it is exactly equal-mass binning of the values.
//! With `U < B` some edges repeat and the bins between them stay empty. NaN and ±inf never become
//! edges; a layer with no finite value has no edges.
//!
//! **Rule** ([`EdgeBins`], usable with any sorted `f32` edge array, e.g. one shipped to a GPU): the
//! bin of `x` is the number of edges `e` with `e <= x` (C++'s `upper_bound`, numpy's
//! `searchsorted(edges, x, side="right")`), compared in `f32` (exact: the edges are `f32` values).
//! So bins run from `0` (below the first edge; `−inf`) to `edges.len()` (at or above the last
//! edge; `+inf`): `B` bins for `B − 1` edges, with no clamping needed. Every NaN falls into
//! [`NAN_BIN`], as under the other schemes.
//!
//! Modules depend one way here: `binning` builds its `Adaptive` scheme from this module, and this
//! module takes the shared NaN bin id from the leaf module `bin_ids`, not from `binning`.
//!
//! Cost: `O(M)` for `M = N·d` values and `M` `u32` of temporary memory: order-preserving `u32` keys
//! of the values are scattered into 4096 groups by their top 12 bits (a counting sort), and the
//! distinct keys of each group are counted by a 128 KiB bitmap of the remaining bits (small groups
//! are sorted instead); the `B − 1` ranks are then selected by popcounts.
//!
//! ```
//! use probe_estimators::{adaptive_edges, EdgeBins};
//! // Distinct levels 0..8, B = 4 bins: edges at ranks 2, 4, 6.
//! let values = [7.0f32, 0.0, 1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, -0.0];
//! let edges = adaptive_edges(&values, 4).unwrap();
//! assert_eq!(edges, vec![2.0, 4.0, 6.0]);
//! let b = EdgeBins::new(edges).unwrap();
//! assert_eq!((b.bin(1.9), b.bin(2.0), b.bin(7.0), b.bin(f32::INFINITY)), (0, 1, 3, 3));
//! ```

use crate::bin_ids::NAN_BIN;
use crate::error::{Error, Result};

/// Largest number of bins [`adaptive_edges`] accepts.
pub const MAX_ADAPTIVE_BINS: usize = 1 << 24;

/// Order-preserving integer key of a non-NaN `f32` (`-0.0` already folded into `0.0`).
#[inline(always)]
fn key(x: f32) -> u32 {
    let b = x.to_bits();
    if b & 0x8000_0000 != 0 {
        !b
    } else {
        b | 0x8000_0000
    }
}

/// Inverse of [`key`].
#[inline(always)]
fn value(k: u32) -> f32 {
    f32::from_bits(if k & 0x8000_0000 != 0 {
        k & 0x7FFF_FFFF
    } else {
        !k
    })
}

/// Bits of a key that choose its bucket (the sign, the exponent and 3 mantissa bits of the value).
const PREFIX_BITS: u32 = 12;
/// Bits of a key within its bucket.
const LOW_BITS: u32 = 32 - PREFIX_BITS;
/// 64-bit words of a bucket's bitmap (2²⁰ bits, 128 KiB: stays in the L2 cache).
const MAP_WORDS: usize = 1 << (LOW_BITS - 6);
/// Buckets of at most this many keys are sorted instead of mapped.
const SMALL_BUCKET: usize = 4096;

/// The distinct finite values of a layer, as [`key`]s, grouped by the keys' top [`PREFIX_BITS`]
/// bits (a counting-sort scatter, one `u32` per value), with the number of distinct keys in each
/// group: counted by sorting small groups (whose distinct keys then lead their slice, sorted) and
/// by a bitmap of the low bits for large ones.
struct Distinct {
    keys: Vec<u32>,
    starts: Vec<usize>,
    counts: Vec<usize>,
}

impl Distinct {
    /// Collects the distinct finite values of `values` (`-0.0` counted as `0.0`).
    fn new(values: &[f32]) -> Self {
        // `x + 0.0` turns -0.0 into +0.0 and leaves every other value unchanged.
        let keys = || {
            values
                .iter()
                .filter(|x| x.is_finite())
                .map(|&x| key(x + 0.0))
        };
        let mut starts = vec![0usize; (1 << PREFIX_BITS) + 1];
        for k in keys() {
            starts[(k >> LOW_BITS) as usize + 1] += 1;
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let mut grouped = vec![0u32; starts[1 << PREFIX_BITS]];
        let mut next = starts.clone();
        for k in keys() {
            let slot = &mut next[(k >> LOW_BITS) as usize];
            grouped[*slot] = k;
            *slot += 1;
        }
        let mut map = Vec::new();
        let counts = starts
            .windows(2)
            .map(|w| {
                let group = &mut grouped[w[0]..w[1]];
                if group.len() <= SMALL_BUCKET {
                    group.sort_unstable();
                    dedup_in_place(group)
                } else {
                    fill_map(&mut map, group);
                    map.iter().map(|w| w.count_ones() as usize).sum()
                }
            })
            .collect();
        Self {
            keys: grouped,
            starts,
            counts,
        }
    }

    /// Number of distinct values.
    fn len(&self) -> usize {
        self.counts.iter().sum()
    }

    /// The keys of the given ranks (0-based, non-decreasing, each `< len()`).
    fn select(&self, ranks: &[usize]) -> Vec<u32> {
        let mut out = Vec::with_capacity(ranks.len());
        let mut map = Vec::new();
        let mut mapped = usize::MAX; // the group `map` holds
        let (mut group, mut before) = (0usize, 0usize); // distinct keys in groups < `group`
        for &r in ranks {
            while before + self.counts[group] <= r {
                before += self.counts[group];
                group += 1;
            }
            let mut left = r - before; // rank within the group
            let keys = &self.keys[self.starts[group]..self.starts[group + 1]];
            if keys.len() <= SMALL_BUCKET {
                out.push(keys[left]); // sorted distinct keys lead the slice
                continue;
            }
            if mapped != group {
                fill_map(&mut map, keys);
                mapped = group;
            }
            for (w, &word) in map.iter().enumerate() {
                let ones = word.count_ones() as usize;
                if left < ones {
                    let mut word = word;
                    for _ in 0..left {
                        word &= word - 1; // clear the lowest set bit
                    }
                    let low = (w as u32) << 6 | word.trailing_zeros();
                    out.push((keys[0] >> LOW_BITS) << LOW_BITS | low);
                    break;
                }
                left -= ones;
            }
        }
        out
    }
}

/// Sets `map` to the bitmap of the low bits of `keys` (all in one group).
fn fill_map(map: &mut Vec<u64>, keys: &[u32]) {
    map.clear();
    map.resize(MAP_WORDS, 0);
    let low_mask = (1u32 << LOW_BITS) - 1;
    for &k in keys {
        let low = k & low_mask;
        map[(low >> 6) as usize] |= 1 << (low & 63);
    }
}

/// Moves the distinct values of the sorted slice `v` to its front; returns how many there are.
fn dedup_in_place(v: &mut [u32]) -> usize {
    if v.is_empty() {
        return 0;
    }
    let mut out = 1;
    for i in 1..v.len() {
        if v[i] != v[out - 1] {
            v[out] = v[i];
            out += 1;
        }
    }
    out
}

/// Chelombiev et al.'s adaptive edges for `bins` bins over `values` (a whole layer, any shape,
/// flattened): the `bins − 1` values `u[⌊k·U/bins⌋]`, `k = 1 … bins − 1`, of the `U` sorted distinct
/// finite values `u` (see the [module docs](self)). Non-decreasing; empty when `values` holds no
/// finite value. Errors when `bins` is 0 or above [`MAX_ADAPTIVE_BINS`].
pub fn adaptive_edges(values: &[f32], bins: usize) -> Result<Vec<f32>> {
    check_bins(bins)?;
    Ok(edges_from(&Distinct::new(values), bins))
}

/// The edges of `bins` bins over the distinct values `u`.
fn edges_from(u: &Distinct, bins: usize) -> Vec<f32> {
    let count = u.len() as u128;
    if count == 0 {
        return Vec::new();
    }
    let ranks: Vec<usize> = (1..bins as u128)
        .map(|k| (k * count / bins as u128) as usize)
        .collect();
    u.select(&ranks).into_iter().map(value).collect()
}

/// Checks an adaptive bin count: `1 <= bins <= MAX_ADAPTIVE_BINS`.
pub(crate) fn check_bins(bins: usize) -> Result<()> {
    if !(1..=MAX_ADAPTIVE_BINS).contains(&bins) {
        return Err(Error::InvalidBinning(format!(
            "Adaptive bins = {bins}: expected 1 <= bins <= {MAX_ADAPTIVE_BINS}"
        )));
    }
    Ok(())
}

/// Bins given by an explicit sorted `f32` edge array: bin of `x` = number of edges `<= x`
/// (`0 ..= edges.len()`), NaN in [`NAN_BIN`] (see the [module docs](self)).
#[derive(Clone, Debug, PartialEq)]
pub struct EdgeBins {
    edges: Vec<f32>,
}

/// Edge counts up to which [`EdgeBins`] counts edges with a branch-free linear scan (which
/// vectorises over values) instead of a binary search.
const LINEAR_MAX: usize = 64;

impl EdgeBins {
    /// Bins for `edges`, which must be non-decreasing and free of NaN (repeated edges are allowed:
    /// the bins between them are empty). Errors otherwise, or for more than
    /// [`MAX_ADAPTIVE_BINS`] edges.
    pub fn new(edges: Vec<f32>) -> Result<Self> {
        if edges.len() > MAX_ADAPTIVE_BINS {
            return Err(Error::InvalidBinning(format!(
                "{} edges: expected at most {MAX_ADAPTIVE_BINS}",
                edges.len()
            )));
        }
        if let Some(i) = edges.iter().position(|e| e.is_nan()) {
            return Err(Error::InvalidBinning(format!(
                "edge {i} is NaN: expected non-decreasing, non-NaN edges"
            )));
        }
        if let Some(i) = edges.windows(2).position(|w| w[0] > w[1]) {
            return Err(Error::InvalidBinning(format!(
                "edge {} = {} is below edge {i} = {}: expected non-decreasing edges",
                i + 1,
                edges[i + 1],
                edges[i]
            )));
        }
        Ok(Self { edges })
    }

    /// The edges.
    pub fn edges(&self) -> &[f32] {
        &self.edges
    }

    /// Number of bins numbers can fall into: `edges.len() + 1`.
    pub fn bins(&self) -> usize {
        self.edges.len() + 1
    }

    /// The number of edges `<= x` (in `0 ..= edges.len()`), or [`NAN_BIN`] for NaN.
    #[inline]
    pub fn bin(&self, x: f32) -> i64 {
        if x.is_nan() {
            NAN_BIN
        } else {
            self.count_le(x) as i64
        }
    }

    /// Number of edges `<= x` for non-NaN `x` (0 for NaN).
    #[inline(always)]
    pub(crate) fn count_le(&self, x: f32) -> usize {
        if self.edges.len() <= LINEAR_MAX {
            self.edges.iter().map(|&e| (e <= x) as usize).sum()
        } else {
            self.edges.partition_point(|&e| e <= x)
        }
    }

    /// Writes `count_le(xs[i])` as `f64` bits for every value into `out`, NaN as `nan_key`;
    /// vectorises over values for short edge arrays.
    #[inline(always)]
    pub(crate) fn count_block(&self, xs: &[f32], out: &mut [u64], nan_key: u64) {
        if self.edges.len() <= LINEAR_MAX {
            let mut counts = [0u32; 64];
            let counts = &mut counts[..xs.len().min(64)];
            for &e in &self.edges {
                for (c, &x) in counts.iter_mut().zip(xs) {
                    *c += (e <= x) as u32;
                }
            }
            for ((o, &c), &x) in out.iter_mut().zip(counts.iter()).zip(xs) {
                *o = if x.is_nan() { nan_key } else { c as u64 };
            }
        } else {
            for (o, &x) in out.iter_mut().zip(xs) {
                *o = if x.is_nan() {
                    nan_key
                } else {
                    self.edges.partition_point(|&e| e <= x) as u64
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_order_like_values() {
        let v = [
            f32::NEG_INFINITY,
            -3e38,
            -1.0,
            -1e-45,
            0.0,
            1e-45,
            0.5,
            1.0,
            3e38,
            f32::INFINITY,
        ];
        for w in v.windows(2) {
            assert!(key(w[0]) < key(w[1]), "{} {}", w[0], w[1]);
        }
        for &x in &v {
            assert_eq!(value(key(x)).to_bits(), x.to_bits());
        }
    }

    #[test]
    fn distinct_keys_match_a_sort() {
        let mut s = 7u64;
        // Random bit patterns (many small groups, sorted) and, in cases 4 and 5, many repeated
        // values within [1, 1.05) and [-0.3, -0.28) (two large groups, mapped).
        let vals: Vec<f32> = (0..60_000)
            .map(|i| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                match i % 7 {
                    0 => 0.0,
                    1 => -0.0,
                    2 => f32::NAN,
                    3 => ((s >> 33) % 50) as f32 - 25.0,
                    4 => 1.0 + ((s >> 40) % 5000) as f32 * 1e-5,
                    5 => -0.3 + ((s >> 40) % 7000) as f32 * 3e-6,
                    _ => f32::from_bits((s >> 32) as u32),
                }
            })
            .collect();
        let mut want: Vec<f32> = vals
            .iter()
            .filter(|x| x.is_finite())
            .map(|&x| x + 0.0)
            .collect();
        want.sort_by(f32::total_cmp);
        want.dedup();
        let ranks: Vec<usize> = (0..want.len()).collect();
        let d = Distinct::new(&vals);
        let large = d.starts.windows(2).filter(|w| w[1] - w[0] > SMALL_BUCKET);
        assert!(large.count() >= 2, "both paths are exercised");
        assert_eq!(d.len(), want.len());
        let got: Vec<f32> = d.select(&ranks).into_iter().map(value).collect();
        assert_eq!(got, want);
    }
}
