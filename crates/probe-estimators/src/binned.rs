//! Binned mutual information of a layer's activations, in **bits** (the information plane).
//!
//! A layer's activations for `n` samples form a row-major `[n, d]` `f32` matrix. Each value is
//! binned (see [`crate::binning`] for the exact rules, including NaN/±inf and out-of-range values)
//! and each sample's row of bins becomes one discrete symbol `T`. With `X` the input symbols (from
//! [`exact_symbols`]) and `Y` the labels:
//!
//! * `I(X;T) = H(T) - H(T|X)` — this general form is right even when `X` has repeated rows; with
//!   all-distinct inputs and a deterministic network `H(T|X) = 0` and `I(X;T) = H(T)`;
//! * `I(T;Y) = H(T) - H(T|Y)`.
//!
//! Grouping is exact: a fast hash only proposes which earlier row a row may equal; equality is then
//! checked bin by bin, so no hash collision can merge two rows (see the private `rows` module).
//!
//! ```
//! use probe_estimators::{binned_mi, exact_symbols, Binning};
//! // 4 samples, 1 unit: values -0.9, -0.8, 0.5, 0.7 with edges (-1, 0, 1) -> bins 0, 0, 1, 1.
//! let acts = [-0.9f32, -0.8, 0.5, 0.7];
//! let x = exact_symbols(&[0.0, 1.0, 2.0, 3.0], 4, 1).unwrap();
//! let mi = binned_mi(&acts, 4, 1, &Binning::Fixed { lo: -1.0, hi: 1.0, edges: 3 }, &x.ids, &[0, 0, 1, 1]).unwrap();
//! assert_eq!((mi.i_xt, mi.i_ty, mi.distinct), (1.0, 1.0, 2));
//! ```

use crate::binning::{Binner, Binning};
use crate::discrete::{clamp_rounding, conditional_entropy_bits, entropy_bits};
use crate::error::{Error, Result};
use crate::keys::ExactKeys;
use crate::rows::group_rows;
pub use crate::rows::Symbols;

/// Checks that `len` elements form an `[n, d]` matrix with `1 <= n <= u32::MAX` and `d >= 1`.
fn check_matrix(what: &'static str, len: usize, n: usize, d: usize) -> Result<()> {
    let dim = |what, got, expected| {
        Err(Error::InvalidDimension {
            what,
            got,
            expected,
        })
    };
    if n == 0 {
        return dim("n", n, "at least 1 row");
    }
    if n > u32::MAX as usize {
        return dim("n", n, "at most u32::MAX rows (symbol ids are u32)");
    }
    if d == 0 {
        return dim("d", d, "at least 1 value per row");
    }
    let Some(expected) = n.checked_mul(d) else {
        return dim("d", d, "n * d to fit in usize");
    };
    if len != expected {
        return Err(Error::LengthMismatch {
            what,
            expected,
            got: len,
        });
    }
    Ok(())
}

/// Dense symbol ids `0..k` (first-appearance order) for the `n` rows of the row-major `[n, d]`
/// matrix `acts`: two rows share an id iff every element falls in the same bin. Exact (no hash
/// collision can merge rows). A [`Binning::Adaptive`] takes its edges from `acts` (the whole
/// layer). Errors on a bad shape or an invalid `binning`.
pub fn binned_symbols(acts: &[f32], n: usize, d: usize, binning: &Binning) -> Result<Symbols> {
    check_matrix("acts", acts.len(), n, d)?;
    Ok(match binning.binner_for(acts)? {
        Binner::Fixed(b) => group_rows(acts, n, d, &b),
        Binner::Floor(b) => group_rows(acts, n, d, &b),
        Binner::Edges(b) => group_rows(acts, n, d, &b),
    })
}

/// Dense symbol ids `0..k` (first-appearance order) for the `n` rows of the row-major `[n, d]`
/// matrix `rows`, two rows sharing an id iff their values are exactly equal (`-0.0 == 0.0`, and all
/// NaNs are equal to each other). Used for the inputs `X`. Errors on a bad shape.
pub fn exact_symbols(rows: &[f32], n: usize, d: usize) -> Result<Symbols> {
    check_matrix("rows", rows.len(), n, d)?;
    Ok(group_rows(rows, n, d, &ExactKeys))
}

/// Binned information-plane coordinates of one layer, in bits.
#[derive(Clone, Debug, PartialEq)]
pub struct BinnedMi {
    /// `I(X;T) = H(T) - H(T|X)`, bits.
    pub i_xt: f64,
    /// `I(T;Y) = H(T) - H(T|Y)`, bits.
    pub i_ty: f64,
    /// `H(T)`, bits.
    pub h_t: f64,
    /// `H(T|X)`, bits (0 for a deterministic layer on distinct inputs).
    pub h_t_given_x: f64,
    /// `H(T|Y)`, bits.
    pub h_t_given_y: f64,
    /// Number of distinct binned rows (symbols of `T`).
    pub distinct: usize,
}

/// Checks that the input symbols `x_ids` and the labels `y` hold one id per sample (`n`).
pub(crate) fn check_ids(n: usize, x_ids: &[u32], y: &[u32]) -> Result<()> {
    for (what, ids) in [("x_ids", x_ids), ("y", y)] {
        if ids.len() != n {
            return Err(Error::LengthMismatch {
                what,
                expected: n,
                got: ids.len(),
            });
        }
    }
    Ok(())
}

/// Binned `I(X;T)` and `I(T;Y)` (bits) of the `[n, d]` activations `acts`, with `x_ids` the input
/// symbol of each sample (e.g. [`exact_symbols`] of the inputs) and `y` its label. Errors on a bad
/// shape, `x_ids`/`y` lengths other than `n`, or an invalid `binning`.
pub fn binned_mi(
    acts: &[f32],
    n: usize,
    d: usize,
    binning: &Binning,
    x_ids: &[u32],
    y: &[u32],
) -> Result<BinnedMi> {
    check_matrix("acts", acts.len(), n, d)?;
    check_ids(n, x_ids, y)?;
    binned_mi_from_symbols(&binned_symbols(acts, n, d, binning)?, x_ids, y)
}

/// [`binned_mi`] from the layer's symbols `t` (its [`binned_symbols`]), e.g. to share them with
/// the flow between layers. Errors when `x_ids`/`y` lengths differ from `t`'s.
pub fn binned_mi_from_symbols(t: &Symbols, x_ids: &[u32], y: &[u32]) -> Result<BinnedMi> {
    let h_t = entropy_bits(&t.ids);
    let h_t_given_x = conditional_entropy_bits(&t.ids, x_ids)?;
    let h_t_given_y = conditional_entropy_bits(&t.ids, y)?;
    Ok(BinnedMi {
        i_xt: clamp_rounding(h_t - h_t_given_x),
        i_ty: clamp_rounding(h_t - h_t_given_y),
        h_t,
        h_t_given_x,
        h_t_given_y,
        distinct: t.distinct,
    })
}
