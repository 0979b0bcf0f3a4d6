//! Tiles of nearby groups for the KDE kernel: a k-d tree order, the tiles' bounding boxes, and
//! the list of tile pairs close enough to hold a pair within the cutoff.
//!
//! The groups are put in the order of the leaves of a k-d tree (each node split at a multiple
//! of [`TILE`] along its widest coordinate), so that every run of `TILE` consecutive groups, a
//! *tile*, is compact in space. A pair of tiles whose bounding boxes are farther apart than the
//! cutoff radius holds no pair within the cutoff, and is never visited.
//!
//! **Exactness of the pruning.** For groups `g ∈ I`, `h ∈ J` and every coordinate `k`,
//! `|t_gk − t_hk| ≥ gap_k` with `gap_k = max(0, lo_Jk − hi_Ik, lo_Ik − hi_Jk)`. Rounding to
//! nearest is monotonic and symmetric, so the computed differences and their sums of squares (in
//! the same coordinate order, from 0, each step one fused multiply-add `s ← gap·gap + s` as in
//! the kernel) keep that order: the computed `Σ_k gap_k²` never exceeds the computed squared
//! distance of any pair of the two tiles. Pruning when
//! `Σ_k gap_k² · inv_s > x_cut` (computed the same way as a pair's `x`) therefore leaves out
//! only pairs whose own `x` exceeds the cutoff, which the kernel would have left out anyway: the
//! sums are exactly those over all pairs with `x ≤ x_cut`.

use std::ops::Range;

use crate::rows::Isa;

/// Groups per tile: a multiple of the kernel's lane count. Smaller tiles prune more finely in
/// space, larger ones spend less on bookkeeping.
pub(super) const TILE: usize = 64;

/// Tiles over the groups (in k-d order) and their bounding boxes.
pub(super) struct Tiles {
    d: usize,
    /// Group index range of each tile (`TILE` groups, the last one possibly fewer).
    pub ranges: Vec<Range<usize>>,
    /// `[tiles, d]` lowest coordinate of each tile.
    lo: Vec<f64>,
    /// `[tiles, d]` highest coordinate of each tile.
    hi: Vec<f64>,
}

/// The order of the `m` rows of `rows` (`[m, d]`, row-major) along the leaves of a k-d tree with
/// leaves of `TILE` rows: a node of `len` rows is split along its widest coordinate into a first
/// part of `⌈leaves/2⌉·TILE` rows (ties broken by row index) and the rest.
pub(super) fn kd_order(rows: &[f64], d: usize) -> Vec<usize> {
    let m = rows.len() / d;
    let mut order: Vec<usize> = (0..m).collect();
    let mut stack: Vec<Range<usize>> = Vec::new();
    stack.push(0..m);
    while let Some(range) = stack.pop() {
        let len = range.len();
        if len <= TILE {
            continue;
        }
        let part = &mut order[range.clone()];
        let axis = widest_axis(rows, d, part);
        let left = len.div_ceil(TILE).div_ceil(2) * TILE;
        part.select_nth_unstable_by(left, |&i, &j| {
            rows[i * d + axis]
                .total_cmp(&rows[j * d + axis])
                .then(i.cmp(&j))
        });
        stack.push(range.start..range.start + left);
        stack.push(range.start + left..range.end);
    }
    order
}

/// The coordinate with the widest range over the rows `part` (the first on ties).
fn widest_axis(rows: &[f64], d: usize, part: &[usize]) -> usize {
    let (mut lo, mut hi) = (vec![f64::INFINITY; d], vec![f64::NEG_INFINITY; d]);
    for &i in part {
        for (k, &v) in rows[i * d..(i + 1) * d].iter().enumerate() {
            lo[k] = lo[k].min(v);
            hi[k] = hi[k].max(v);
        }
    }
    (0..d).fold(0, |best, k| {
        if hi[k] - lo[k] > hi[best] - lo[best] {
            k
        } else {
            best
        }
    })
}

impl Tiles {
    /// Tiles of `TILE` consecutive rows of `rows` (`[m, d]`, already in k-d order).
    pub fn new(rows: &[f64], d: usize) -> Self {
        let m = rows.len() / d;
        let ranges: Vec<Range<usize>> =
            (0..m).step_by(TILE).map(|s| s..(s + TILE).min(m)).collect();
        let mut lo = vec![f64::INFINITY; ranges.len() * d];
        let mut hi = vec![f64::NEG_INFINITY; ranges.len() * d];
        for (t, range) in ranges.iter().enumerate() {
            for row in rows[range.start * d..range.end * d].chunks_exact(d) {
                for (k, &v) in row.iter().enumerate() {
                    lo[t * d + k] = lo[t * d + k].min(v);
                    hi[t * d + k] = hi[t * d + k].max(v);
                }
            }
        }
        Tiles { d, ranges, lo, hi }
    }

    /// Number of tiles.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// The computed `Σ_k gap_k²` between the point `p` and the box of tile `t` (a lower bound on
    /// the computed squared distance from `p` to any row of the tile; see the module docs).
    #[inline(always)]
    pub fn point_gap2(&self, p: &[f64], t: usize) -> f64 {
        let (lo, hi) = (&self.lo[t * self.d..], &self.hi[t * self.d..]);
        let mut s = 0.0;
        for (k, &v) in p.iter().enumerate() {
            let gap = gap(lo[k] - v, v - hi[k]);
            s = gap.mul_add(gap, s);
        }
        s
    }

    /// The computed `Σ_k gap_k²` between the boxes of tiles `a` and `b`.
    #[inline(always)]
    fn box_gap2(&self, a: usize, b: usize) -> f64 {
        let d = self.d;
        let mut s = 0.0;
        for k in 0..d {
            let gap = gap(
                self.lo[b * d + k] - self.hi[a * d + k],
                self.lo[a * d + k] - self.hi[b * d + k],
            );
            s = gap.mul_add(gap, s);
        }
        s
    }

    /// For every tile `i`, the tiles `j > i` whose box lies within the cutoff of tile `i`'s box
    /// (`gap² · inv_s ≤ x_cut`), ascending, with the code for `isa` (the fused multiply-adds
    /// as instructions where the kernel has them; the same bits everywhere).
    pub fn near_pairs(&self, isa: Isa, inv_s: f64, x_cut: f64) -> Vec<Vec<usize>> {
        near_pairs_isa(isa, self, inv_s, x_cut)
    }
}

#[inline(always)]
fn near_pairs_body(tiles: &Tiles, inv_s: f64, x_cut: f64) -> Vec<Vec<usize>> {
    (0..tiles.len())
        .map(|i| {
            (i + 1..tiles.len())
                .filter(|&j| tiles.box_gap2(i, j) * inv_s <= x_cut)
                .collect()
        })
        .collect()
}

probe_simd::isa_dispatch! {
    /// [`near_pairs_body`] for `isa`.
    fn near_pairs_isa(tiles: &Tiles, inv_s: f64, x_cut: f64) -> Vec<Vec<usize>> => near_pairs_body
}

/// `max(0, a, b)` for the two one-sided gaps of an interval test (at most one is positive).
#[inline(always)]
fn gap(a: f64, b: f64) -> f64 {
    let g = if a > b { a } else { b };
    if g > 0.0 {
        g
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_values::uniform;

    /// The k-d order is a permutation whose tiles are no wider than the whole set, and the box
    /// gap is a lower bound on every pair's computed squared distance.
    #[test]
    fn tiles_are_a_permutation_and_gaps_are_lower_bounds() {
        let (m, d) = (1000, 3);
        let mut next = uniform(3);
        let raw: Vec<f64> = (0..m * d).map(|_| next() * 2.0 - 1.0).collect();
        let order = kd_order(&raw, d);
        let mut seen = order.clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..m).collect::<Vec<_>>());
        let rows: Vec<f64> = order
            .iter()
            .flat_map(|&i| raw[i * d..(i + 1) * d].iter().copied())
            .collect();
        let tiles = Tiles::new(&rows, d);
        assert_eq!(tiles.len(), m.div_ceil(TILE));
        let dist2 = |a: &[f64], b: &[f64]| {
            let mut s = 0.0;
            for (u, v) in a.iter().zip(b) {
                let t = u - v;
                s = t.mul_add(t, s);
            }
            s
        };
        for a in 0..tiles.len() {
            for b in 0..tiles.len() {
                let bound = tiles.box_gap2(a, b);
                for g in tiles.ranges[a].clone() {
                    let p = &rows[g * d..(g + 1) * d];
                    let point = tiles.point_gap2(p, b);
                    assert!(point >= bound, "point gap below the box gap");
                    for h in tiles.ranges[b].clone() {
                        assert!(dist2(p, &rows[h * d..(h + 1) * d]) >= point);
                    }
                }
            }
        }
    }
}
