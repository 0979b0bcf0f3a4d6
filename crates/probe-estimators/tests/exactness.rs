//! Exactness of the fast row grouping against a slow BTreeMap reference, on data built to sit on
//! and next to bin edges, with many rows that differ from each other in a single element.

mod common;

use common::{assert_mi_entropies, naive_entropy, naive_fixed_bin, naive_floor_bin, naive_ids};
use probe_estimators::{binned_mi, binned_symbols, exact_symbols, Binning};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Edges of linspace(-1, 1, 30).
fn idnns_edges() -> Vec<f64> {
    Binning::DEFAULT_FIXED.edges().unwrap()
}

/// A value on, or one f32 ulp either side of, a random one of `edges` or of a multiple of `width`;
/// occasionally a special value.
fn tricky_value(rng: &mut ChaCha8Rng, edges: &[f64], width: f64) -> f32 {
    let base = match rng.random_range(0..4) {
        0 => edges[rng.random_range(0..edges.len())],
        1 => rng.random_range(-20..20) as f64 * width,
        2 => rng.random_range(-1.2..1.2),
        _ => [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1.0,
            -1.0,
            0.0,
            -0.0,
        ][rng.random_range(0..7)],
    };
    let x = base as f32;
    match rng.random_range(0..3) {
        0 if x.is_finite() => f32::from_bits(x.to_bits().wrapping_add(1)),
        1 if x.is_finite() && x != 0.0 => f32::from_bits(x.to_bits() - 1),
        _ => x,
    }
}

/// `n` rows of width `d`: copies of a few base rows, each with a few elements replaced.
fn near_collisions(
    rng: &mut ChaCha8Rng,
    n: usize,
    d: usize,
    edges: &[f64],
    width: f64,
) -> Vec<f32> {
    let bases: Vec<Vec<f32>> = (0..8)
        .map(|_| (0..d).map(|_| tricky_value(rng, edges, width)).collect())
        .collect();
    let mut out = Vec::with_capacity(n * d);
    for _ in 0..n {
        let mut row = bases[rng.random_range(0..bases.len())].clone();
        for _ in 0..rng.random_range(0..3) {
            let j = rng.random_range(0..d);
            row[j] = tricky_value(rng, edges, width);
        }
        out.extend(row);
    }
    out
}

#[test]
fn binned_symbols_match_the_naive_reference() {
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    for &(n, d) in &[
        (1, 1),
        (500, 1),
        (500, 2),
        (800, 7),
        (600, 33),
        (300, 1024),
        (2000, 64),
    ] {
        // (-1, 2, 69): edges exact in f32 where the arithmetic guess undershoots (see keys.rs).
        for (width, (lo, hi, e)) in [(0.07, (-1.0, 1.0, 30)), (0.5, (-1.0, 2.0, 69))] {
            let fixed = Binning::Fixed { lo, hi, edges: e };
            let m = near_collisions(&mut rng, n, d, &fixed.edges().unwrap(), width);
            let got = binned_symbols(&m, n, d, &fixed).unwrap();
            let want = naive_ids(&m, d, |x| naive_fixed_bin(lo, hi, e, x));
            assert_eq!(got.ids, want, "{fixed:?} n={n} d={d}");
            assert_eq!(
                got.distinct,
                want.iter().max().map_or(0, |&m| m as usize + 1)
            );

            let got = binned_symbols(&m, n, d, &Binning::Floor { width }).unwrap();
            let want = naive_ids(&m, d, |x| naive_floor_bin(width, x));
            assert_eq!(got.ids, want, "Floor({width}) n={n} d={d}");
        }
    }
}

#[test]
fn exact_symbols_match_the_naive_reference() {
    let key = |x: f32| {
        if x.is_nan() {
            -1
        } else if x == 0.0 {
            0
        } else {
            x.to_bits() as i64
        }
    };
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for &(n, d) in &[(700, 1), (700, 3), (300, 1024)] {
        let m = near_collisions(&mut rng, n, d, &idnns_edges(), 0.07);
        let got = exact_symbols(&m, n, d).unwrap();
        assert_eq!(got.ids, naive_ids(&m, d, key), "n={n} d={d}");
    }
    // One ulp apart is a different row; -0.0 and 0.0, and all NaNs, are the same.
    let m = [
        1.0f32,
        f32::from_bits(1.0f32.to_bits() + 1),
        0.0,
        -0.0,
        f32::NAN,
        -f32::NAN,
    ];
    assert_eq!(exact_symbols(&m, 6, 1).unwrap().ids, vec![0, 1, 2, 2, 3, 3]);
}

#[test]
fn binned_mi_matches_the_definition() {
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let (n, d) = (3000, 16);
    let m = near_collisions(&mut rng, n, d, &idnns_edges(), 0.07);
    let x: Vec<u32> = (0..n as u32).map(|i| i % 700).collect();
    let y: Vec<u32> = (0..n).map(|_| rng.random_range(0..10)).collect();
    let binning = Binning::DEFAULT_FIXED;
    let mi = binned_mi(&m, n, d, &binning, &x, &y).unwrap();
    let t = naive_ids(&m, d, |v| naive_fixed_bin(-1.0, 1.0, 30, v));
    let h_t = naive_entropy(t.iter());
    let h_tx = naive_entropy(t.iter().zip(&x)) - naive_entropy(x.iter());
    let h_ty = naive_entropy(t.iter().zip(&y)) - naive_entropy(y.iter());
    assert!(
        mi.distinct > 20 && mi.h_t_given_x > 0.1,
        "data should be non-trivial: {mi:?}"
    );
    assert_mi_entropies(&mi, (h_t, h_tx, h_ty), 1e-10, "vs the definition");
}
