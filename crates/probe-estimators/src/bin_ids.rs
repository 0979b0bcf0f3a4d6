//! The bin ids reserved for non-finite values, shared by every binning scheme.
//!
//! A leaf module (it imports nothing): the `binning` module (which re-exports these as
//! `binning::NAN_BIN`, …) and the edge rule of the `adaptive` module both use them, so `adaptive`
//! need not import `binning` and the dependency between the two runs one way,
//! `binning → adaptive`.

/// Bin of every NaN, in every scheme (no number can reach it).
pub const NAN_BIN: i64 = i64::MIN;
/// Bin of `-inf` under `Binning::Floor` (under `Fixed`, `-inf` joins bin 0; under `Adaptive`, the
/// first bin).
pub const NEG_INF_BIN: i64 = i64::MIN + 1;
/// Bin of `+inf` under `Binning::Floor` (under `Fixed`, `+inf` joins the last bin; under
/// `Adaptive`, too).
pub const POS_INF_BIN: i64 = i64::MAX;
