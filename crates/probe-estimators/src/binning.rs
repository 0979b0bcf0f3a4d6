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
//!   An O(1) guess `floor((x - lo) / step)` is corrected against the edge array, so the result is
//!   exactly that of the edge comparisons in `f64`.
//! * [`Binning::Floor`] — the Saxe et al. 2018 scheme: unbounded bins `floor(x as f64 / width) as i64`.
//!   `-inf` and `+inf` each get a bin of their own ([`NEG_INF_BIN`], [`POS_INF_BIN`]). Finite quotients
//!   beyond the `i64` range saturate into the extreme finite bins `i64::MIN + 2` / `i64::MAX - 1`
//!   (unreachable for `|x / width| < 9.2e18`). Note that Saxe's numpy code divides in `f32`; we divide
//!   in `f64`, which can differ for values within an `f32` rounding of a bin boundary.
//!
//! In both schemes every NaN (any payload, any sign) falls into one bin, [`NAN_BIN`], distinct from
//! every bin a number can reach.
//!
//! ```
//! use probe_estimators::Binning;
//! let b = Binning::Fixed { lo: -1.0, hi: 1.0, edges: 3 }.binner().unwrap(); // edges -1, 0, 1
//! assert_eq!((b.bin(-7.0), b.bin(-1.0), b.bin(0.0), b.bin(1.0), b.bin(1.5)), (0, 0, 1, 1, 1));
//! let f = Binning::Floor { width: 0.5 }.binner().unwrap();
//! assert_eq!((f.bin(-0.01), f.bin(0.0), f.bin(0.99)), (-1, 0, 1));
//! ```

use crate::error::{Error, Result};

/// Bin of every NaN, in both schemes (no number can reach it).
pub const NAN_BIN: i64 = i64::MIN;
/// Bin of `-inf` under [`Binning::Floor`] (under `Fixed`, `-inf` joins bin 0).
pub const NEG_INF_BIN: i64 = i64::MIN + 1;
/// Bin of `+inf` under [`Binning::Floor`] (under `Fixed`, `+inf` joins the last bin).
pub const POS_INF_BIN: i64 = i64::MAX;
/// Largest number of edges [`Binning::Fixed`] accepts (the edge array is held in memory).
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
}

impl Binning {
    /// Checks the parameters: `Fixed` needs finite `lo < hi` with finite `hi - lo` and
    /// `2 <= edges <= MAX_EDGES`; `Floor` needs a finite `width > 0`.
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
        }
    }

    /// The edges of a `Fixed` binning, computed as `numpy.linspace(lo, hi, edges)` does
    /// (`lo + i * step`, last edge exactly `hi`); `None` for `Floor`. Does not validate.
    pub fn edges(&self) -> Option<Vec<f64>> {
        match *self {
            Binning::Fixed { lo, hi, edges } => Some(linspace(lo, hi, edges)),
            Binning::Floor { .. } => None,
        }
    }

    /// Validates and precomputes what [`Binner::bin`] needs.
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
}

impl Binner {
    /// The bin of `x` (see the [module docs](self)).
    #[inline]
    pub fn bin(&self, x: f32) -> i64 {
        match self {
            Binner::Fixed(b) => b.bin(x),
            Binner::Floor(b) => b.bin(x),
        }
    }
}

/// Prepared fixed-edge bins: bin = `#{edges <= x} - 1`, clamped to `[0, edges - 2]`.
#[derive(Clone, Debug)]
pub struct FixedBins {
    lo: f64,
    inv_step: f64,
    /// The interior edges at `cmp[1..=edges-2]`, with NaN at `cmp[0]` and `cmp[edges-1]`: every
    /// comparison with NaN is false, so the correction loops below stop at both ends without an
    /// index test (the clamp to `[0, edges - 2]` falls out for free).
    cmp: Vec<f64>,
}

impl FixedBins {
    fn new(lo: f64, step: f64, edges: &[f64]) -> Self {
        let mut cmp = edges.to_vec();
        let last = cmp.len() - 1;
        cmp[0] = f64::NAN;
        cmp[last] = f64::NAN;
        FixedBins {
            lo,
            inv_step: 1.0 / step,
            cmp,
        }
    }

    /// The bin of `x`, in `[0, edges - 2]`, or [`NAN_BIN`].
    #[inline(always)]
    pub fn bin(&self, x: f32) -> i64 {
        let x = x as f64;
        if x.is_nan() {
            return NAN_BIN;
        }
        // After clamping, the bin is the number of *interior* edges e[1..=edges-2] that are <= x.
        // Guess it arithmetically, then correct against the edges themselves (exact).
        let c = &self.cmp[..];
        let last = c.len() - 2;
        // `f64::max/min` drop a NaN guess (0 * inf) to the bound; on the clamped, non-negative
        // guess `as` truncation is floor (and avoids a libm `floor` call on baseline x86-64).
        let guess = ((x - self.lo) * self.inv_step).max(0.0).min(last as f64);
        let mut b = guess as i64 as usize;
        while c[b + 1] <= x {
            b += 1;
        }
        while c[b] > x {
            b -= 1;
        }
        b as i64
    }
}

/// Prepared floor bins: bin = `floor(x / width)`.
#[derive(Clone, Debug)]
pub struct FloorBins {
    width: f64,
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
mod tests {
    use super::*;

    /// Slow, obviously-correct fixed binning: count the edges <= x, minus one, clamp.
    fn fixed_slow(edges: &[f64], x: f32) -> i64 {
        let x = x as f64;
        if x.is_nan() {
            return NAN_BIN;
        }
        let c = edges.iter().filter(|&&e| e <= x).count() as i64;
        (c - 1).clamp(0, edges.len() as i64 - 2)
    }

    #[test]
    fn linspace_matches_numpy_values() {
        // numpy.linspace(-1, 1, 30)[[1, 14, 15, 28]] printed with repr().
        let e = Binning::Fixed {
            lo: -1.0,
            hi: 1.0,
            edges: 30,
        }
        .edges()
        .unwrap();
        assert_eq!(e.len(), 30);
        assert_eq!(e[0], -1.0);
        assert_eq!(e[29], 1.0);
        assert_eq!(e[1], -1.0 + 2.0 / 29.0);
        assert_eq!(e[14], -1.0 + 14.0 * (2.0 / 29.0));
        assert_eq!(e[28], -1.0 + 28.0 * (2.0 / 29.0));
    }

    #[test]
    fn fixed_guess_agrees_with_edge_count_around_every_edge() {
        for (lo, hi, n) in [
            (-1.0, 1.0, 30),
            (-1.0, 1.0, 3),
            (0.0, 1.0, 2),
            (-3.7, 11.1, 1000),
        ] {
            let binning = Binning::Fixed { lo, hi, edges: n };
            let b = binning.binner().unwrap();
            let edges = binning.edges().unwrap();
            for &e in &edges {
                let x = e as f32;
                for y in [
                    x,
                    f32::from_bits(x.to_bits().wrapping_add(1)),
                    f32::from_bits(x.to_bits().wrapping_sub(1)),
                ] {
                    for z in [y, -y] {
                        assert_eq!(b.bin(z), fixed_slow(&edges, z), "x = {z:e}, {binning:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn fixed_specials() {
        let b = Binning::Fixed {
            lo: -1.0,
            hi: 1.0,
            edges: 30,
        }
        .binner()
        .unwrap();
        assert_eq!(b.bin(f32::NEG_INFINITY), 0);
        assert_eq!(b.bin(f32::INFINITY), 28);
        assert_eq!(b.bin(f32::NAN), NAN_BIN);
        assert_eq!(b.bin(-f32::NAN), NAN_BIN);
        assert_eq!(b.bin(f32::MAX), 28);
        assert_eq!(b.bin(f32::MIN), 0);
        assert_eq!(b.bin(1.0), 28);
        assert_eq!(b.bin(-1.0), 0);
    }

    #[test]
    fn floor_i64_is_floor() {
        let big = 2f64.powi(52);
        for q in [
            0.0,
            -0.0,
            0.5,
            -0.5,
            -1.0,
            1.0,
            -1.5,
            2.999,
            -2.999,
            1e-300,
            -1e-300,
            big,
            -big,
            big + 1.0,
            -big - 1.0,
            big - 0.5,
            -big + 0.5,
            9.3e18,
            -9.3e18,
            f64::MAX,
            f64::MIN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            4503599627370495.5,
            -4503599627370495.5,
        ] {
            assert_eq!(floor_i64(q), q.floor() as i64, "q = {q:e}");
        }
    }

    #[test]
    fn floor_specials_and_negatives() {
        let b = Binning::Floor { width: 0.5 }.binner().unwrap();
        assert_eq!(b.bin(-0.01), -1);
        assert_eq!(b.bin(-0.5), -1);
        assert_eq!(b.bin(-0.51), -2);
        assert_eq!(b.bin(-0.0), 0);
        assert_eq!(b.bin(f32::INFINITY), POS_INF_BIN);
        assert_eq!(b.bin(f32::NEG_INFINITY), NEG_INF_BIN);
        assert_eq!(b.bin(f32::NAN), NAN_BIN);
        let tiny = Binning::Floor { width: 1e-300 }.binner().unwrap();
        assert_eq!(tiny.bin(f32::MAX), i64::MAX - 1);
        assert_eq!(tiny.bin(f32::MIN), i64::MIN + 2);
    }

    #[test]
    fn validate_names_the_bad_value() {
        let bad = [
            Binning::Fixed {
                lo: 1.0,
                hi: 1.0,
                edges: 30,
            },
            Binning::Fixed {
                lo: f64::NAN,
                hi: 1.0,
                edges: 30,
            },
            Binning::Fixed {
                lo: -1.0,
                hi: f64::INFINITY,
                edges: 30,
            },
            Binning::Fixed {
                lo: -f64::MAX,
                hi: f64::MAX,
                edges: 30,
            },
            Binning::Fixed {
                lo: -1.0,
                hi: 1.0,
                edges: 1,
            },
            Binning::Fixed {
                lo: -1.0,
                hi: 1.0,
                edges: MAX_EDGES + 1,
            },
            Binning::Floor { width: 0.0 },
            Binning::Floor { width: -0.5 },
            Binning::Floor { width: f64::NAN },
            Binning::Floor {
                width: f64::INFINITY,
            },
        ];
        for b in bad {
            let msg = b.validate().unwrap_err().to_string();
            assert!(msg.contains("expected"), "{msg}");
            assert!(b.binner().is_err());
        }
        let msg = Binning::Fixed {
            lo: -1.0,
            hi: 1.0,
            edges: 1,
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(msg.contains("edges = 1"), "{msg}");
    }
}
