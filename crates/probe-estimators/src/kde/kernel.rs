//! The KDE kernel sums over tiles of groups: each unordered pair of tiles is visited once, and
//! one `exp` per pair of groups feeds both groups' row sums (`K_gh = K_hg`), both bounds
//! (`K⁴ = (K²)²`) and, with labels, the same-class sums.
//!
//! **Work.** Tile `i` is one task: it visits its own tile (every ordered pair, the self-term
//! `w_g·e⁰` included) and then every tile `j > i` in [`Tiles::near_pairs`]. A visit of `(i, j)`
//! adds `w_h·K_gh` to the row sums of `g ∈ i` and `w_g·K_gh` to the *column* sums of `h ∈ j`,
//! which the task keeps in a slot of its own. Inside a visit, a row `g` farther from `j`'s box
//! than the cutoff is skipped, and so is a block of [`LANES`] groups whose `x` all exceed it.
//!
//! **Determinism.** The row sums of `g ∈ j` are `Σ_lanes` of `j`'s own task (lanes added in a
//! fixed order at the end) plus the sum of the column slots of the tasks `i < j`, added in
//! increasing `i`: the same operations in the same order whichever thread ran which task, so the
//! results are identical at every thread count. Tasks run in stripes of tiles so that the slots
//! held at once stay within a fixed budget (memory `O(N)` plus 32 MiB).
//!
//! **Arithmetic.** IEEE `f64` additions, multiplications and fused multiply-adds (`mul_add`, one
//! rounding), compiled for each instruction set by [`probe_simd::isa_dispatch!`]. The AVX2 and
//! AVX-512 builds (both require FMA) run `mul_add` as the hardware instruction; the baseline
//! build calls the C library's `fma`, correctly rounded like the instruction but much slower
//! (only CPUs without FMA use it). So the results are the same bits at every instruction set.
//! Against separate multiplications and additions, the fused form (with the shorter polynomial
//! of [`EXP_POLY`]) runs 19 % fewer instructions in the kernel and about 10 % less time where
//! every pair is within the cutoff (`bench_kde`, AVX2; BENCHMARKS.md).

use std::ops::Range;
use std::sync::Mutex;

use super::tiles::{Tiles, TILE};
use crate::rows::Isa;

/// `f64` lanes of the kernel loop (one block of groups).
pub(super) const LANES: usize = 8;

/// Coordinates after which a block's partial distances are tested against the cutoff (the
/// coordinates come ordered by decreasing variance, so the first ones separate the most).
const EXIT_AFTER: usize = 4;

/// Blocks of [`LANES`] groups in a tile.
const BLOCKS_PER_TILE: usize = TILE / LANES;

/// Column slots (blocks of four sums per lane, 256 bytes each) held at once: 32 MiB. With
/// `N = 4096` every slot fits (one stripe); at `N = 70 000` a stripe is 14 tiles.
const SLOT_BUDGET: usize = 1 << 17;

/// The four sums of one group, per lane: `[Σ w·K⁴, Σ w·K, same-class Σ w·K⁴, same-class Σ w·K]`.
type Lanes4 = [[f64; LANES]; 4];

/// The distinct rows the kernel sums over, in tile order.
pub(super) struct Points<'a> {
    pub d: usize,
    /// Number of groups (without padding).
    pub m: usize,
    /// `[m, d]` row-major coordinates (for the row being summed).
    pub rows: &'a [f64],
    /// Block-major coordinates: block `b` holds `d` arrays of [`LANES`] values (coordinate `k`
    /// of groups `b·LANES …`), padded to whole blocks.
    pub blocks: &'a [f64],
    /// Weight (sample count) of each group, padded with 0 to whole blocks.
    pub weight: &'a [f64],
    /// Class index of each group (as `f64`), padded with −1; all 0 without labels.
    pub class: &'a [f64],
}

/// How a visit treats the same-class sums: a type (passed as its value, a unit struct), so each
/// loop is compiled with or without them.
pub(super) trait ClassSums: Copy + Send + Sync {
    /// Whether the same-class sums are formed.
    const ON: bool;
}

/// Forms the same-class sums.
#[derive(Clone, Copy)]
pub(super) struct WithClasses;
/// Leaves the same-class sums at 0.
#[derive(Clone, Copy)]
pub(super) struct NoClasses;

impl ClassSums for WithClasses {
    const ON: bool = true;
}
impl ClassSums for NoClasses {
    const ON: bool = false;
}

/// The kernel over tiled points at one noise variance.
pub(super) struct Kernel<'a> {
    points: Points<'a>,
    tiles: Tiles,
    /// For every tile, the later tiles it is visited with.
    near: Vec<Vec<usize>>,
    /// `1/(8σ²)`.
    inv_s: f64,
    /// Cutoff on `x = D/(8σ²)`.
    x_cut: f64,
}

impl<'a> Kernel<'a> {
    pub fn new(points: Points<'a>, sigma2: f64, x_cut: f64, isa: Isa) -> Self {
        let tiles = Tiles::new(&points.rows[..points.m * points.d], points.d);
        let inv_s = 1.0 / (8.0 * sigma2);
        let near = tiles.near_pairs(isa, inv_s, x_cut);
        Kernel {
            points,
            tiles,
            near,
            inv_s,
            x_cut,
        }
    }

    /// `[Σ_h w_h K⁴_gh, Σ_h w_h K_gh, same-class Σ K⁴, same-class Σ K]` for every group `g`
    /// (the last two 0 unless `classes` is [`WithClasses`]), on up to `threads` threads.
    ///
    /// The tiles' tasks run in stripes of consecutive tiles whose column slots fit in
    /// [`SLOT_BUDGET`]; after each stripe its slots are added to every group's column sums in
    /// increasing tile order, so memory stays `O(N + budget)` whatever `N`, and the order of
    /// every addition depends neither on the threads nor on the stripes.
    pub fn sums<C: ClassSums>(&self, classes: C, isa: Isa, threads: usize) -> Vec<[f64; 4]> {
        self.sums_in_stripes(classes, isa, threads, self.stripe_tiles())
    }

    /// [`Kernel::sums`] with `stripe_tiles` tiles per stripe (at least 1): the same bits for
    /// every value.
    pub(super) fn sums_in_stripes<C: ClassSums>(
        &self,
        classes: C,
        isa: Isa,
        threads: usize,
        stripe_tiles: usize,
    ) -> Vec<[f64; 4]> {
        let tiles = self.tiles.len();
        let zero: Lanes4 = [[0.0; LANES]; 4];
        let mut rows = vec![zero; tiles * TILE];
        let mut col_sums = vec![[0.0f64; 4]; self.points.m];
        let mut first = 0;
        for stripe in rows.chunks_mut(TILE * stripe_tiles.max(1)) {
            let last = first + stripe.len() / TILE;
            let slots: usize = self.near[first..last].iter().map(Vec::len).sum();
            let mut cols = vec![zero; slots * BLOCKS_PER_TILE];
            self.run_tasks(classes, isa, threads, first, stripe, &mut cols);
            self.add_columns(first..last, &cols, &mut col_sums);
            first = last;
        }
        rows[..self.points.m]
            .iter()
            .zip(&col_sums)
            .map(|(lanes, col)| {
                let mut sums = lanes.map(|l| l.iter().fold(0.0, |s, &v| s + v));
                for (s, c) in sums.iter_mut().zip(col) {
                    *s += c;
                }
                sums
            })
            .collect()
    }

    /// Tiles per stripe: as many as keep the stripe's column slots within [`SLOT_BUDGET`]
    /// (every tile has fewer than `tiles` later tiles), at least one.
    fn stripe_tiles(&self) -> usize {
        let per_tile = self.tiles.len().max(1) * BLOCKS_PER_TILE;
        (SLOT_BUDGET / per_tile).max(1)
    }

    /// The tasks of tiles `first …` (their row lanes `rows`, `TILE` per tile, and their column
    /// slots `cols`, [`BLOCKS_PER_TILE`] per near tile, in order) on up to `threads` threads.
    fn run_tasks<C: ClassSums>(
        &self,
        classes: C,
        isa: Isa,
        threads: usize,
        first: usize,
        rows: &mut [Lanes4],
        cols: &mut [Lanes4],
    ) {
        let mut tasks = Vec::with_capacity(rows.len() / TILE);
        let mut rest = cols;
        for (t, rows) in rows.chunks_mut(TILE).enumerate() {
            let i = first + t;
            let (mine, tail) = rest.split_at_mut(self.near[i].len() * BLOCKS_PER_TILE);
            rest = tail;
            tasks.push((i, rows, mine));
        }
        let count = tasks.len();
        let tasks = Mutex::new(tasks.into_iter());
        let work = || loop {
            // A poisoned lock means another worker panicked; that panic propagates from `scope`.
            let Some((i, rows, cols)) = tasks.lock().ok().and_then(|mut it| it.next()) else {
                return;
            };
            visit(isa, classes, self, i, i, rows, &mut []);
            for (&j, cols) in self.near[i].iter().zip(cols.chunks_mut(BLOCKS_PER_TILE)) {
                visit(isa, classes, self, i, j, rows, cols);
            }
        };
        std::thread::scope(|scope| {
            for _ in 1..threads.clamp(1, count.max(1)) {
                scope.spawn(work);
            }
            work();
        });
    }

    /// Adds the column slots `cols` of the tiles `stripe` (in order) to each group's sums.
    fn add_columns(&self, stripe: Range<usize>, cols: &[Lanes4], col_sums: &mut [[f64; 4]]) {
        let mut slot = 0;
        for i in stripe {
            for &j in &self.near[i] {
                debug_assert!(j > i);
                let blocks = &cols[slot * BLOCKS_PER_TILE..(slot + 1) * BLOCKS_PER_TILE];
                for g in self.tiles.ranges[j].clone() {
                    let (b, l) = ((g % TILE) / LANES, g % LANES);
                    for (s, c) in col_sums[g].iter_mut().zip(&blocks[b]) {
                        *s += c[l];
                    }
                }
                slot += 1;
            }
        }
    }
}

/// `ln 2` split as in fdlibm: `n·LN2_HI` is exact for `|n| < 2²⁰`; `LN2_LO = ln 2 − LN2_HI`.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
/// The coefficients `c_0 … c_11` of `e^r` on `|r| ≤ ln 2 / 2`: a degree-11 near-minimax
/// (Chebyshev) fit computed with 50-digit arithmetic (`mpmath.chebyfit`) and rounded to `f64`;
/// relative error `1.6·10⁻¹⁷` in exact arithmetic with these rounded coefficients (the degree-13
/// Taylor polynomial it replaces: `5·10⁻¹⁸`, two more terms).
const EXP_POLY: [f64; 12] = [
    1.0,
    1.0,
    0.500_000_000_000_001_9,
    0.166_666_666_666_666_8,
    0.041_666_666_666_487_95,
    0.008_333_333_333_319_589,
    0.001_388_888_895_235_286_3,
    0.000_198_412_698_900_764_03,
    2.480_148_544_156_131_3e-5,
    2.755_724_088_722_987e-6,
    2.763_265_472_252_779e-7,
    2.511_004_920_481_865_8e-8,
];
/// `1.5·2⁵²`: adding it rounds a value below `2⁵¹` to an integer held in the low mantissa bits.
const SHIFT: f64 = 6_755_399_441_055_744.0;

/// `e^−x` for `x ∈ [0, 700]`, branch-free, with a short dependency chain: the kernel's `exp`.
///
/// `−x = n·ln 2 + r` as in `probe_simd::exp` (`n = round(−x / ln 2) ∈ [−1010, 0]`, fdlibm's
/// split of `ln 2`, `|r| ≲ ln 2 / 2`), `e^r` by the degree-11 polynomial [`EXP_POLY`]
/// evaluated by Estrin's scheme with fused multiply-adds (a dependency chain of 6 operations,
/// so the loop is bound by throughput, not latency), and `2ⁿ` in one power (always a normal
/// number here). Within 2 ulp of libm's `exp(−x)` (tested); `e^−0 = 1` exactly. The same bits
/// at every instruction set (see the module docs).
#[inline(always)]
fn exp_neg(x: f64) -> f64 {
    let y = -x;
    let n = y.mul_add(std::f64::consts::LOG2_E, SHIFT) - SHIFT;
    let r = (-n).mul_add(LN2_LO, (-n).mul_add(LN2_HI, y));
    let r2 = r * r;
    let r4 = r2 * r2;
    let r8 = r4 * r4;
    // Coefficient pairs c_{2i} + c_{2i+1}·r of the minimax polynomial ([`EXP_POLY`]).
    let [c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11] = EXP_POLY;
    let q0 = c1.mul_add(r, c0);
    let q1 = c3.mul_add(r, c2);
    let q2 = c5.mul_add(r, c4);
    let q3 = c7.mul_add(r, c6);
    let q4 = c9.mul_add(r, c8);
    let q5 = c11.mul_add(r, c10);
    let s0 = q1.mul_add(r2, q0);
    let s1 = q3.mul_add(r2, q2);
    let s2 = q5.mul_add(r2, q4);
    let t0 = s1.mul_add(r4, s0);
    let p = s2.mul_add(r8, t0);
    let bits = (n + SHIFT)
        .to_bits()
        .wrapping_sub(SHIFT.to_bits())
        .wrapping_add(1023);
    p * f64::from_bits(bits << 52)
}

/// Adds `Σ_k (own_k − block_k[l])²` over the coordinates given to each lane's `dist`.
#[inline(always)]
fn add_squares(dist: &mut [f64; LANES], own: &[f64], block: &[[f64; LANES]]) {
    for (&a, coords) in own.iter().zip(block) {
        for (s, &v) in dist.iter_mut().zip(coords) {
            let t = a - v;
            *s = t.mul_add(t, *s);
        }
    }
}

// The arguments stay separate (not one struct): `&mut` slices passed directly keep their
// no-alias guarantee in the generated code, which a struct of references loses (measured: the
// kernel ran 1.6× slower that way).
probe_simd::isa_dispatch! {
    /// [`visit_body`] for `isa`.
    fn visit<C: ClassSums>(
        classes: C,
        kernel: &Kernel<'_>,
        i: usize,
        j: usize,
        rows: &mut [Lanes4],
        cols: &mut [Lanes4],
    ) => visit_body
}

/// One visit of tiles `(i, j)`: adds `w_h·K_gh` to `rows` (the lanes of `g ∈ i`) and, unless
/// `i == j`, `w_g·K_gh` to `cols` (the blocks of `h ∈ j`). See the module docs.
#[inline(always)]
fn visit_body<C: ClassSums>(
    _classes: C,
    kernel: &Kernel<'_>,
    i: usize,
    j: usize,
    rows: &mut [Lanes4],
    cols: &mut [Lanes4],
) {
    let p = &kernel.points;
    let d = p.d;
    let (x_cut, inv_s) = (kernel.x_cut, kernel.inv_s);
    let h_range = &kernel.tiles.ranges[j];
    let first_block = h_range.start / LANES;
    let n_blocks = h_range.end.div_ceil(LANES) - first_block;
    let (blocks, _) = p.blocks[first_block * LANES * d..(first_block + n_blocks) * LANES * d]
        .as_chunks::<LANES>();
    let (weights, _) = p.weight[first_block * LANES..].as_chunks::<LANES>();
    let (classes, _) = p.class[first_block * LANES..].as_chunks::<LANES>();
    let diagonal = i == j;
    let head = d.min(EXIT_AFTER);
    for (g, acc) in kernel.tiles.ranges[i].clone().zip(rows.iter_mut()) {
        let own = &p.rows[g * d..(g + 1) * d];
        if !diagonal && kernel.tiles.point_gap2(own, j) * inv_s > x_cut {
            continue;
        }
        let (w_g, c_g) = (p.weight[g], p.class[g]);
        for (b, block) in blocks.chunks_exact(d).enumerate() {
            let mut dist = [0.0f64; LANES];
            let (own_head, own_tail) = own.split_at(head);
            let (block_head, block_tail) = block.split_at(head);
            add_squares(&mut dist, own_head, block_head);
            // A partial sum of squares only grows: once every lane is beyond the cutoff after
            // the first coordinates, the block is (the same test as on the full sums below).
            if !own_tail.is_empty() && dist.iter().fold(true, |far, &s| far & (s * inv_s > x_cut)) {
                continue;
            }
            add_squares(&mut dist, own_tail, block_tail);
            let mut xs = [0.0f64; LANES];
            for (x, &s) in xs.iter_mut().zip(&dist) {
                *x = s * inv_s;
            }
            if xs.iter().fold(true, |far, &x| far & (x > x_cut)) {
                continue;
            }
            let (mut k1, mut k4) = ([0.0f64; LANES], [0.0f64; LANES]);
            for l in 0..LANES {
                let x = xs[l];
                // Computed for every lane and then selected (branch-free); the argument is
                // clamped so that neither K nor K⁴ is ever subnormal.
                let k = exp_neg(if x < x_cut { x } else { x_cut });
                let k = if x <= x_cut { k } else { 0.0 };
                k1[l] = k;
                k4[l] = (k * k) * (k * k);
            }
            let (w, c) = (&weights[b], &classes[b]);
            for l in 0..LANES {
                acc[0][l] = w[l].mul_add(k4[l], acc[0][l]);
                acc[1][l] = w[l].mul_add(k1[l], acc[1][l]);
                if C::ON {
                    // `0·K + s = s` exactly (K is finite): the other classes' terms add nothing.
                    let ws = if c[l] == c_g { w[l] } else { 0.0 };
                    acc[2][l] = ws.mul_add(k4[l], acc[2][l]);
                    acc[3][l] = ws.mul_add(k1[l], acc[3][l]);
                }
            }
            if diagonal {
                continue;
            }
            let col = &mut cols[b];
            for l in 0..LANES {
                col[0][l] = w_g.mul_add(k4[l], col[0][l]);
                col[1][l] = w_g.mul_add(k1[l], col[1][l]);
                if C::ON {
                    let ws = if c[l] == c_g { w_g } else { 0.0 };
                    col[2][l] = ws.mul_add(k4[l], col[2][l]);
                    col[3][l] = ws.mul_add(k1[l], col[3][l]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `exp_neg` is within 2 ulp of libm's `exp(−x)` densely over `[0, 700]` (every `2⁻¹⁸` on
    /// `[0, 64]`, where the kernel uses it, and a coarser grid beyond), and exactly 1 at 0.
    #[test]
    fn exp_neg_is_within_two_ulp_of_libm() {
        assert_eq!(exp_neg(0.0), 1.0);
        let fine = (0..=64u32 << 18).map(|i| i as f64 / (1u64 << 18) as f64);
        let coarse = (0..=700_000u32).map(|i| i as f64 / 1000.0);
        for x in fine.chain(coarse) {
            let (got, want) = (exp_neg(x), (-x).exp());
            let ulps = got.to_bits().abs_diff(want.to_bits());
            assert!(
                ulps <= 2,
                "exp_neg({x}) = {got:e}, libm {want:e}: {ulps} ulp"
            );
        }
    }
}
