//! The fast CPU path of the KDE bounds (`kde_mi`, `kde_entropy`: deduplication, cutoff, tiles,
//! vectorised symmetric kernel) against the plain double loop it replaced (`kde_mi_reference`:
//! every pair, `f64` direct differences, libm's `exp`, one pass per class), within 1e-9 bits
//! absolute.
//!
//! The bound: the cutoff moves each value by at most `2·e^−30/ln 2 ≈ 2.7·10⁻¹³` bits (see
//! `src/kde/fast.rs`); the rest is `f64` rounding (summation order, a 2-ulp `exp`, `K⁴ = (K²)²`
//! for `exp(−4x)`, weights for repeated rows), at most about `N·2⁻⁵³` relative on each row sum
//! (`< 10⁻¹²` for the sizes here), far inside 1e-9.

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use probe_estimators::{kde_entropy, kde_mi, kde_mi_reference, KdeMi};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The agreement asserted between the fast path and the reference, bits absolute.
const TOL_BITS: f64 = 1e-9;

fn gaussian(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn values(m: &KdeMi) -> [f64; 4] {
    [m.i_xt_upper, m.i_xt_lower, m.i_ty_upper, m.i_ty_lower]
}

/// Whether two samples with equal rows carry different labels (then `kde_mi` keeps them in
/// separate groups and `kde_entropy` in one: the same sums, rounded differently).
fn equal_rows_differ_in_label(t: &Tensor, y: &[u32]) -> bool {
    let rows: Vec<Vec<f32>> = t.to_vec2().unwrap();
    let mut first: HashMap<Vec<u32>, u32> = HashMap::new();
    rows.iter().zip(y).any(|(row, &label)| {
        let key = row.iter().map(|v| (v + 0.0).to_bits()).collect();
        *first.entry(key).or_insert(label) != label
    })
}

/// Asserts that `kde_mi` equals `kde_mi_reference` within [`TOL_BITS`] on `t`, and that
/// `kde_entropy` gives the same `I(X;T)` figures as `kde_mi`: to the bit, unless equal rows carry
/// different labels (then within `1e-12` bits).
fn assert_matches_reference(t: &Tensor, y: &[u32], sigma2: f64, ctx: &str) {
    let fast = kde_mi(t, y, sigma2).unwrap();
    let want = kde_mi_reference(t, y, sigma2).unwrap();
    for (g, w) in values(&fast).into_iter().zip(values(&want)) {
        assert!(
            (g - w).abs() <= TOL_BITS,
            "{ctx} sigma2={sigma2:e}: {fast:?} vs reference {want:?}"
        );
    }
    let h = kde_entropy(t, sigma2).unwrap();
    if equal_rows_differ_in_label(t, y) {
        assert!(
            (h.upper - fast.i_xt_upper).abs() <= 1e-12,
            "{ctx}: {h:?} vs {fast:?}"
        );
        assert!(
            (h.lower - fast.i_xt_lower).abs() <= 1e-12,
            "{ctx}: {h:?} vs {fast:?}"
        );
    } else {
        assert_eq!(h.upper.to_bits(), fast.i_xt_upper.to_bits(), "{ctx}");
        assert_eq!(h.lower.to_bits(), fast.i_xt_lower.to_bits(), "{ctx}");
    }
}

/// `n × d` activations `tanh(gain·g + shift·label)` (`g` standard normal) with `classes` labels,
/// rounded to `f32`: a large `gain` saturates most values to exactly ±1 (duplicate-heavy rows).
fn tanh_layer(n: usize, d: usize, classes: u32, gain: f64, seed: u64) -> (Tensor, Vec<u32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let y: Vec<u32> = (0..n).map(|_| rng.random_range(0..classes)).collect();
    let t: Vec<f32> = (0..n * d)
        .map(|e| (gain * gaussian(&mut rng) + 0.3 * y[e / d] as f64).tanh() as f32)
        .collect();
    (Tensor::from_vec(t, (n, d), &Device::Cpu).unwrap(), y)
}

/// Spread-out random data, d = 1 … 100, from tiny σ² (every pair beyond the cutoff but the
/// self-terms) to huge σ² (every kernel value ≈ 1).
#[test]
fn random_data_matches_reference() {
    for (n, d, classes, seed) in [
        (64, 1, 2, 1u64),
        (2000, 2, 2, 2),
        (1500, 3, 3, 3),
        (1200, 10, 10, 4),
        (700, 30, 2, 5),
        (400, 100, 4, 6),
    ] {
        let (t, y) = tanh_layer(n, d, classes, 1.0, seed);
        for sigma2 in [1e-9, 1e-4, 1e-3, 1e-2, 0.1, 1.0, 1e6] {
            assert_matches_reference(&t, &y, sigma2, &format!("n={n} d={d}"));
        }
    }
}

/// Saturated layers (most values exactly ±1, so few distinct rows and many exact duplicates,
/// some with different labels), a layer of one repeated row, and every sample its own label.
#[test]
fn saturated_and_duplicate_heavy_data_match_reference() {
    for (n, d, classes, seed) in [(3000, 2, 2, 11u64), (2500, 5, 2, 12), (1000, 12, 10, 13)] {
        let (t, y) = tanh_layer(n, d, classes, 40.0, seed);
        for sigma2 in [1e-6, 1e-3, 0.1, 10.0] {
            assert_matches_reference(&t, &y, sigma2, &format!("saturated n={n} d={d}"));
        }
    }
    let same = Tensor::from_vec(vec![0.5f32; 300 * 3], (300, 3), &Device::Cpu).unwrap();
    let y: Vec<u32> = (0..300).map(|i| i % 4).collect();
    assert_matches_reference(&same, &y, 1e-3, "one row");
    let (t, _) = tanh_layer(500, 4, 2, 3.0, 14);
    let own: Vec<u32> = (0..500).collect();
    assert_matches_reference(&t, &own, 1e-2, "own labels");
}

/// Half the samples exactly on a 2-D grid of spacing comparable to the cutoff radius, half
/// spread: pairs straddle the cutoff, and tiles' boxes lie near it on both sides.
#[test]
fn pairs_around_the_cutoff_match_reference() {
    let sigma2: f64 = 1e-3;
    let n = 1500;
    let radius = (8.0 * sigma2 * ((n as f64).ln() + 30.0)).sqrt();
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let mut rows = Vec::with_capacity(2 * n);
    for i in 0..n {
        let (a, b) = if i % 2 == 0 {
            let k = (i / 2) as f64;
            ((k % 7.0) * radius * 0.5, (k / 7.0).floor() % 5.0 * radius)
        } else {
            (rng.random::<f64>() * 4.0, rng.random::<f64>() * 3.0)
        };
        rows.extend([a as f32, b as f32]);
    }
    let y: Vec<u32> = (0..n as u32).map(|i| i % 2).collect();
    let t = Tensor::from_vec(rows, (n, 2), &Device::Cpu).unwrap();
    assert_matches_reference(&t, &y, sigma2, "grid");
}
