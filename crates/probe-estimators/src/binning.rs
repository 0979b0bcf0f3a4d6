//! How one activation value becomes a bin index (an `i64`), exactly and in `O(1)`.
//!
//! Two schemes, both mapping a scalar `x: f32` (widened to `f64` before any arithmetic):
//!
//! * [`Binning::Fixed`] — the IDNNs scheme (Shwartz-Ziv & Tishby 2017): `edges` edges
//!   `linspace(lo, hi, edges)` with numpy semantics (`e[i] = lo + i*step`, `step = (hi-lo)/(edges-1)`,
//!   last edge exactly `hi`), giving `edges - 1` intervals. The bin of `x` is
//!   `#{i : e[i] <= x} - 1` (`np.digitize(x, e) - 1`), **clamped** to `[0, edges - 2]`:
//!   values below `lo` join the first interval and values `>= hi` join the last one, so tanh's exact
//!   `±1.0` saturation lands in the end bins. This deliberately differs from the IDNNs code, where
//!   `bins[digitize - 1]` with index `-1` makes values `< lo` wrap around to the *top* bin (a bug we do
//!   not copy), and where `x >= hi` gets a bin of its own. `-inf`/`+inf` go to bin `0`/`edges - 2`.
//!   Computed in `O(1)`: a guess `floor((x - lo) / step)` is corrected by comparing `x` with the
//!   neighbouring edges (recomputed bit-exactly as `lo + i*step`), so the result is exactly that of
//!   the edge comparisons in `f64`. When a binner is built we prove that the guess is never more than
//!   one bin off for any `f32` (see `FixedBins`), which lets the bulk path use one branch-free step.
//! * [`Binning::Floor`] — the Saxe et al. 2018 scheme: unbounded bins `floor(x as f64 / width) as i64`.
//!   `-inf` and `+inf` each get a bin of their own ([`NEG_INF_BIN`], [`POS_INF_BIN`]). Finite quotients
//!   beyond the `i64` range saturate into the extreme finite bins `i64::MIN + 2` / `i64::MAX - 1`
//!   (unreachable for `|x / width| < 9.2e18`). Note that Saxe's numpy code divides in `f32`; we divide
//!   in `f64`, which can differ for values within an `f32` rounding of a bin boundary.
//!
//! * [`Binning::Adaptive`] — Chelombiev et al. 2019: `bins` equal-mass bins whose edges are taken
//!   from the data of each layer (see [`crate::adaptive`]): `bins − 1` edges `u[⌊k·U/bins⌋]` of the
//!   `U` sorted distinct finite values `u`, and the bin of `x` is the number of edges `<= x`
//!   (`0 ..= bins − 1`; `−inf` in bin 0, `+inf` in the last). It is resolved per layer (and per
//!   measurement) with [`Binning::binner_for`]; [`Binning::binner`] cannot resolve it.
//!
//! In every scheme every NaN (any payload, any sign) falls into one bin, [`NAN_BIN`], distinct from
//! every bin a number can reach.
//!
//! ```
//! use probe_estimators::Binning;
//! let b = Binning::Fixed { lo: -1.0, hi: 1.0, edges: 3 }.binner().unwrap(); // edges -1, 0, 1
//! assert_eq!((b.bin(-7.0), b.bin(-1.0), b.bin(0.0), b.bin(1.0), b.bin(1.5)), (0, 0, 1, 1, 1));
//! let f = Binning::Floor { width: 0.5 }.binner().unwrap();
//! assert_eq!((f.bin(-0.01), f.bin(0.0), f.bin(0.99)), (-1, 0, 1));
//! ```

use crate::adaptive::{adaptive_edges, check_bins, EdgeBins};
pub use crate::bin_ids::{NAN_BIN, NEG_INF_BIN, POS_INF_BIN};
use crate::error::{Error, Result};

/// Largest number of edges [`Binning::Fixed`] accepts (building a binner checks every edge).
pub const MAX_EDGES: usize = 1 << 24;

/// A binning scheme for activations; see the [module docs](self) for the exact semantics.
#[derive(Clone, Debug, PartialEq)]
pub enum Binning {
    /// IDNNs: `edges` edges = `linspace(lo, hi, edges)` (numpy linspace semantics, last edge exactly
    /// `hi`), `edges - 1` intervals; out-of-range values are clamped into the end intervals.
    Fixed {
        /// First edge.
        lo: f64,
        /// Last edge.
        hi: f64,
        /// Number of edges (`>= 2`); there are `edges - 1` bins.
        edges: usize,
    },
    /// Saxe: unbounded bins `floor(x / width)`.
    Floor {
        /// Bin width (`> 0`, finite).
        width: f64,
    },
    /// Chelombiev et al.: `bins` equal-mass bins with edges computed from each layer's values
    /// ([`crate::adaptive_edges`]); resolved per layer by [`Binning::binner_for`].
    Adaptive {
        /// Number of bins (`>= 1`; Chelombiev et al. use 30); there are `bins − 1` edges.
        bins: usize,
    },
}

impl Binning {
    /// 30 edges on `[−1, 1]`: the IDNNs setting (Shwartz-Ziv & Tishby) and the default `binned`
    /// estimator of the CLI and the Python API.
    pub const DEFAULT_FIXED: Binning = Binning::fixed(-1.0, 1.0, 30);

    /// [`Binning::Fixed`] with `edges` edges from `lo` to `hi` (not validated: see
    /// [`Binning::validate`]).
    pub const fn fixed(lo: f64, hi: f64, edges: usize) -> Binning {
        Binning::Fixed { lo, hi, edges }
    }

    /// Checks the parameters: `Fixed` needs finite `lo < hi` with finite `hi - lo` and
    /// `2 <= edges <= MAX_EDGES`; `Floor` needs a finite `width > 0`; `Adaptive` needs
    /// `1 <= bins <= MAX_ADAPTIVE_BINS`.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Binning::Fixed { lo, hi, edges } => {
                if !lo.is_finite() || !hi.is_finite() {
                    return Err(Error::InvalidBinning(format!(
                        "Fixed lo = {lo}, hi = {hi}: expected both finite"
                    )));
                }
                if lo >= hi {
                    return Err(Error::InvalidBinning(format!(
                        "Fixed lo = {lo}, hi = {hi}: expected lo < hi"
                    )));
                }
                if !(hi - lo).is_finite() {
                    return Err(Error::InvalidBinning(format!(
                        "Fixed lo = {lo}, hi = {hi}: expected hi - lo to be finite in f64"
                    )));
                }
                if !(2..=MAX_EDGES).contains(&edges) {
                    return Err(Error::InvalidBinning(format!(
                        "Fixed edges = {edges}: expected 2 <= edges <= {MAX_EDGES}"
                    )));
                }
                Ok(())
            }
            Binning::Floor { width } => {
                if !(width.is_finite() && width > 0.0) {
                    return Err(Error::InvalidBinning(format!(
                        "Floor width = {width}: expected a finite width > 0"
                    )));
                }
                Ok(())
            }
            Binning::Adaptive { bins } => check_bins(bins),
        }
    }

    /// The edges of a `Fixed` binning, computed as `numpy.linspace(lo, hi, edges)` does
    /// (`lo + i * step`, last edge exactly `hi`); `None` for `Floor` and for `Adaptive` (whose
    /// edges depend on the data: [`crate::adaptive_edges`]). Does not validate.
    pub fn edges(&self) -> Option<Vec<f64>> {
        match *self {
            Binning::Fixed { lo, hi, edges } => Some(linspace(lo, hi, edges)),
            Binning::Floor { .. } | Binning::Adaptive { .. } => None,
        }
    }

    /// Whether the bins depend on the data they bin (`Adaptive`).
    pub fn is_data_dependent(&self) -> bool {
        matches!(self, Binning::Adaptive { .. })
    }

    /// Validates and resolves the binning for `values` (one layer's activations, any shape
    /// flattened): `Adaptive` computes its edges from them ([`crate::adaptive_edges`]) into a
    /// [`Binner::Edges`]; the other schemes ignore `values` and give what [`Binning::binner`]
    /// gives.
    pub fn binner_for(&self, values: &[f32]) -> Result<Binner> {
        match *self {
            Binning::Adaptive { bins } => {
                Ok(Binner::Edges(EdgeBins::new(adaptive_edges(values, bins)?)?))
            }
            _ => self.binner(),
        }
    }

    /// Validates and precomputes what [`Binner::bin`] needs. Errors for `Adaptive`, whose edges
    /// need the data: use [`Binning::binner_for`].
    pub fn binner(&self) -> Result<Binner> {
        self.validate()?;
        match *self {
            Binning::Fixed { lo, hi, edges } => {
                let e = linspace(lo, hi, edges);
                // Rounding is monotone, so `lo + i*step` never decreases and the last interior edge
                // stays <= hi for any edge count we accept; the guess-and-correct search relies on it.
                if e.windows(2).any(|w| w[0] > w[1]) {
                    return Err(Error::InvalidBinning(format!(
                        "Fixed lo = {lo}, hi = {hi}, edges = {edges}: expected non-decreasing f64 edges"
                    )));
                }
                let step = (hi - lo) / (edges - 1) as f64;
                Ok(Binner::Fixed(FixedBins::new(lo, step, &e)))
            }
            Binning::Floor { width } => Ok(Binner::Floor(FloorBins { width })),
            Binning::Adaptive { bins } => Err(Error::InvalidBinning(format!(
                "Adaptive {{ bins: {bins} }} takes its edges from the data: resolve it per layer \
                 with Binning::binner_for(values)"
            ))),
        }
    }
}

/// `numpy.linspace(lo, hi, n)` for `n >= 2`: `lo + i * ((hi - lo) / (n - 1))`, last value `hi`.
fn linspace(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if n == 0 {
        return Vec::new();
    }
    if n == 1 {
        return vec![lo];
    }
    let step = (hi - lo) / (n - 1) as f64;
    let mut e: Vec<f64> = (0..n).map(|i| lo + i as f64 * step).collect();
    e[n - 1] = hi;
    e
}

/// A validated [`Binning`] with its edge array precomputed; maps values to bin indices.
#[derive(Clone, Debug)]
pub enum Binner {
    /// Prepared [`Binning::Fixed`].
    Fixed(FixedBins),
    /// Prepared [`Binning::Floor`].
    Floor(FloorBins),
    /// An explicit edge array (a resolved [`Binning::Adaptive`]).
    Edges(EdgeBins),
}

impl Binner {
    /// The bin of `x` (see the [module docs](self)).
    #[inline]
    pub fn bin(&self, x: f32) -> i64 {
        match self {
            Binner::Fixed(b) => b.bin(x),
            Binner::Floor(b) => b.bin(x),
            Binner::Edges(b) => b.bin(x),
        }
    }

    /// Number of bins a number can fall into when that is finite and small enough to count
    /// densely (`Fixed`: `edges − 1`, `Edges`: `edges + 1`), else `None` (`Floor`). NaN is not
    /// counted here.
    pub fn dense_bins(&self) -> Option<usize> {
        match self {
            Binner::Fixed(b) => Some(b.last() as usize + 1),
            Binner::Floor(_) => None,
            Binner::Edges(b) => Some(b.bins()),
        }
    }
}

/// Prepared fixed-edge bins: bin = `#{edges <= x} - 1`, clamped to `[0, edges - 2]`.
///
/// Edges are never stored: edge `i` is recomputed as `lo + i * step`, the very operations
/// `numpy.linspace` performs, so it is bit-identical to `Binning::edges()[i]` (for `i <= edges - 2`;
/// the last edge `hi` is never consulted, since values at or above it are clamped anyway).
#[derive(Clone, Debug)]
pub struct FixedBins {
    lo: f64,
    step: f64,
    inv_step: f64,
    /// `edges - 2` as `f64`: the largest bin.
    last: f64,
    /// Whether [`Self::guess`] is within one bin of the true bin for every non-NaN `f32`, so a
    /// single branch-free correction step is exact (checked at construction; true for sane edges).
    pub(crate) one_step: bool,
}

/// 2^52: adding and subtracting it rounds a non-negative `f64` below 2^52 to an integer.
const TWO52: f64 = 4_503_599_627_370_496.0;

impl FixedBins {
    fn new(lo: f64, step: f64, edges: &[f64]) -> Self {
        let mut bins = FixedBins {
            lo,
            step,
            inv_step: 1.0 / step,
            last: (edges.len() - 2) as f64,
            one_step: false,
        };
        bins.one_step = bins.guess_within_one_bin(edges);
        bins
    }

    /// Edge `i` (integer-valued `f64`, `0 <= i <= edges - 2`), exactly as `numpy.linspace`.
    #[inline(always)]
    pub(crate) fn edge(&self, i: f64) -> f64 {
        self.lo + i * self.step
    }

    /// Largest bin (`edges - 2`) as `f64`.
    #[inline(always)]
    pub(crate) fn last(&self) -> f64 {
        self.last
    }

    /// Monotone arithmetic guess of the bin of `x` (non-NaN): an integer-valued `f64` in
    /// `[0, edges - 2]`, usually exact. Branch-free and free of float-to-int conversions, so it
    /// vectorises.
    #[inline(always)]
    pub(crate) fn guess(&self, x: f64) -> f64 {
        let g = (x - self.lo) * self.inv_step;
        let g = if g < self.last { g } else { self.last }; // a NaN guess (0 * inf) becomes `last`
        let g = if g > 0.0 { g } else { 0.0 };
        let r = (g + TWO52) - TWO52; // g in [0, 2^24]: nearest integer
        if r > g {
            r - 1.0
        } else {
            r
        }
    }

    /// The bin of `x` (non-NaN) as an integer-valued `f64` by [`FixedBins::guess`] and one
    /// exact correction step, valid when the guess is within one bin (checked at construction,
    /// `one_step`): up iff edge g+1 exists as an interior edge and is <= x, down iff g > 0 and
    /// edge g > x. `last` is [`FixedBins::last`], hoisted by the caller's loop. Branch-free.
    #[inline(always)]
    pub(crate) fn one_step_bin(&self, x: f32, last: f64) -> f64 {
        let xd = x as f64;
        let g = self.guess(xd);
        let g1 = g + 1.0;
        let up = if self.edge(g1) <= xd { 1.0 } else { 0.0 };
        let up = if g1 <= last { up } else { 0.0 };
        let down = if self.edge(g) > xd { 1.0 } else { 0.0 };
        let down = if g >= 1.0 { down } else { 0.0 };
        g + up - down
    }

    /// Both the guess and the true bin are monotone step functions of `x`; the bin is constant on
    /// `[t_i, pred(t_i+1)]` with `t_i` the smallest `f32` at or above edge `i`. If the guess is within
    /// one bin at every such endpoint (and at ±inf), it is within one bin everywhere.
    fn guess_within_one_bin(&self, edges: &[f64]) -> bool {
        let mut points = vec![f32::NEG_INFINITY, f32::INFINITY];
        for &e in &edges[1..edges.len() - 1] {
            let mut t = e as f32;
            if (t as f64) < e {
                t = next_up(t);
            }
            points.extend([t, -next_up(-t)]);
        }
        points.iter().all(|&x| {
            let (g, b) = (self.guess(x as f64) as i64, self.bin(x));
            (g - b).abs() <= 1
        })
    }

    /// The bin of `x`, in `[0, edges - 2]`, or [`NAN_BIN`].
    #[inline]
    pub fn bin(&self, x: f32) -> i64 {
        let x = x as f64;
        if x.is_nan() {
            return NAN_BIN;
        }
        // After clamping, the bin is the largest i in [0, last] with i == 0 or edge(i) <= x (the
        // number of interior edges <= x; edges never decrease). Check the arithmetic guess against
        // its two neighbouring edges; if it is off, binary-search the side the answer lies on, so
        // even absurd parameters cost O(log edges) and the answer is always that of the comparisons.
        let last = self.last as i64;
        let le = |i: i64| self.edge(i as f64) <= x;
        let g = self.guess(x) as i64;
        let (mut lo, mut hi) = if g > 0 && !le(g) {
            (0, g - 1)
        } else if g < last && le(g + 1) {
            (g + 1, last)
        } else {
            return g;
        };
        // Invariant: the answer is in [lo, hi] and lo qualifies (lo == 0 or edge(lo) <= x).
        while lo < hi {
            let mid = lo + (hi - lo + 1) / 2;
            if le(mid) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        lo
    }
}

/// The next `f32` towards +inf (NaN and +inf unchanged).
pub(crate) fn next_up(f: f32) -> f32 {
    if f.is_nan() || f == f32::INFINITY {
        f
    } else if f == 0.0 {
        f32::from_bits(1)
    } else if f > 0.0 {
        f32::from_bits(f.to_bits() + 1)
    } else {
        f32::from_bits(f.to_bits() - 1)
    }
}

/// Prepared floor bins: bin = `floor(x / width)`.
#[derive(Clone, Debug)]
pub struct FloorBins {
    width: f64,
}

impl FloorBins {
    /// The bin width.
    pub(crate) fn width(&self) -> f64 {
        self.width
    }
}

impl FloorBins {
    /// `floor(x as f64 / width)`, or [`NAN_BIN`], [`NEG_INF_BIN`], [`POS_INF_BIN`].
    #[inline(always)]
    pub fn bin(&self, x: f32) -> i64 {
        let x = x as f64;
        if x.is_nan() {
            NAN_BIN
        } else if x == f64::INFINITY {
            POS_INF_BIN
        } else if x == f64::NEG_INFINITY {
            NEG_INF_BIN
        } else {
            // `as` saturates (an overflowing quotient is +-inf); keep finite x off the sentinels.
            floor_i64(x / self.width).clamp(i64::MIN + 2, i64::MAX - 1)
        }
    }
}

/// `q.floor() as i64` for non-NaN `q`, without a libm call: truncate (saturating), then step down
/// when truncation went up. Exact: for `|q| >= 2^52` every `f64` is an integer and truncation is
/// exact; below that `t as f64` is exact, so the comparison is too.
#[inline(always)]
fn floor_i64(q: f64) -> i64 {
    let t = q as i64;
    t.saturating_sub(((t as f64) > q) as i64)
}

#[cfg(test)]
mod tests;
