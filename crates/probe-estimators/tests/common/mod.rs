//! Helpers shared by the integration tests: the 12-bit data set and slow reference estimators.
#![allow(dead_code)]

use std::collections::BTreeMap;

use probe_estimators::{BinnedMi, Error};

/// The 4096 12-bit inputs, row r = bits of r, MSB first, as 0.0 / 1.0 (`[4096, 12]`).
pub fn twelve_bit_inputs() -> Vec<f32> {
    (0..4096u32)
        .flat_map(|r| (0..12).map(move |j| ((r >> (11 - j)) & 1) as f32))
        .collect()
}

/// Labels of the 12-bit task (docs/references.md), from probe-train's generator, which its own
/// tests check against the published label entropy and the closed-form rule.
pub fn twelve_bit_labels() -> Vec<u32> {
    (0..4096u16)
        .map(probe_train::data::tishby12_label)
        .collect()
}

/// Slow fixed binning: numpy linspace edges, count of edges <= x minus one, clamped; NaN -> MIN.
pub fn naive_fixed_bin(lo: f64, hi: f64, n_edges: usize, x: f32) -> i64 {
    let x = x as f64;
    if x.is_nan() {
        return i64::MIN;
    }
    let step = (hi - lo) / (n_edges - 1) as f64;
    let mut count = 0i64;
    for i in 0..n_edges {
        let e = if i == n_edges - 1 {
            hi
        } else {
            lo + i as f64 * step
        };
        if e <= x {
            count += 1;
        }
    }
    (count - 1).clamp(0, n_edges as i64 - 2)
}

/// Slow floor binning with the documented sentinels.
pub fn naive_floor_bin(width: f64, x: f32) -> i64 {
    let x = x as f64;
    if x.is_nan() {
        i64::MIN
    } else if x == f64::INFINITY {
        i64::MAX
    } else if x == f64::NEG_INFINITY {
        i64::MIN + 1
    } else {
        ((x / width).floor() as i64).clamp(i64::MIN + 2, i64::MAX - 1)
    }
}

/// Reference grouping: dense first-appearance ids of the rows' key vectors via a BTreeMap.
pub fn naive_ids(data: &[f32], d: usize, key: impl Fn(f32) -> i64) -> Vec<u32> {
    let mut seen: BTreeMap<Vec<i64>, u32> = BTreeMap::new();
    data.chunks(d)
        .map(|row| {
            let k: Vec<i64> = row.iter().map(|&x| key(x)).collect();
            let next = seen.len() as u32;
            *seen.entry(k).or_insert(next)
        })
        .collect()
}

/// Reference plug-in entropy in bits, straight from the definition.
pub fn naive_entropy<K: Ord>(keys: impl IntoIterator<Item = K>) -> f64 {
    let mut counts: BTreeMap<K, f64> = BTreeMap::new();
    let mut n = 0.0;
    for k in keys {
        *counts.entry(k).or_default() += 1.0;
        n += 1.0;
    }
    counts.values().map(|&c| c / n * (n / c).log2()).sum()
}

/// Asserts that `e` is [`Error::InvalidDimension`] for the dimension `what` (`n`, `d`), which was 0.
pub fn assert_zero_dimension(e: &Error, what: &str) {
    assert!(
        matches!(e, Error::InvalidDimension { what: w, got: 0, .. } if *w == what),
        "expected {what} = 0 to be rejected: {e}"
    );
}

/// Asserts that `mi` holds the entropies `h_t` = H(T), `h_t_x` = H(T|X) and `h_t_y` = H(T|Y)
/// and the informations I(X;T) = H(T) − H(T|X) and I(T;Y) = H(T) − H(T|Y), each within `tol`;
/// `case` names a failure.
pub fn assert_mi_entropies(
    mi: &BinnedMi,
    (h_t, h_t_x, h_t_y): (f64, f64, f64),
    tol: f64,
    case: &str,
) {
    for (got, want, what) in [
        (mi.h_t, h_t, "H(T)"),
        (mi.h_t_given_x, h_t_x, "H(T|X)"),
        (mi.h_t_given_y, h_t_y, "H(T|Y)"),
        (mi.i_xt, h_t - h_t_x, "I(X;T)"),
        (mi.i_ty, h_t - h_t_y, "I(T;Y)"),
    ] {
        assert!((got - want).abs() < tol, "{case}: {what}: {got} vs {want}");
    }
}
