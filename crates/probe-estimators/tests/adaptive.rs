//! Adaptive (equal-mass) binning: the edges are Chelombiev et al.'s ranks ⌊k·U/B⌋ of the sorted
//! distinct values, the edge rule is "number of edges <= x", and the binned estimates under it are
//! the plug-in estimates of those bins.

mod common;

use probe_estimators::{adaptive_edges, binned_mi, Binning, EdgeBins, Error};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The reference: sort the distinct finite values (−0.0 = 0.0) and index them directly.
fn naive_edges(values: &[f32], bins: usize) -> Vec<f32> {
    let mut u: Vec<f32> = values
        .iter()
        .filter(|x| x.is_finite())
        .map(|&x| if x == 0.0 { 0.0 } else { x })
        .collect();
    u.sort_by(f32::total_cmp);
    u.dedup();
    if u.is_empty() {
        return vec![];
    }
    (1..bins).map(|k| u[k * u.len() / bins]).collect()
}

/// The f32 one ulp above (`dir = 1`) or below (`dir = -1`) a finite, non-zero `x`.
fn ulp(x: f32, dir: i32) -> f32 {
    let up = (dir > 0) == (x > 0.0);
    f32::from_bits(if up { x.to_bits() + 1 } else { x.to_bits() - 1 })
}

fn naive_bin(edges: &[f32], x: f32) -> i64 {
    if x.is_nan() {
        i64::MIN
    } else {
        edges.iter().filter(|&&e| e <= x).count() as i64
    }
}

#[test]
fn edges_by_hand() {
    // Distinct levels 0, 1, …, 9 (0 twice, once as −0.0; 3 three times), B = 4: U = 10, ranks
    // ⌊10k/4⌋ = 2, 5, 7.
    let v = [
        9.0f32, 3.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, -0.0, 3.0,
    ];
    assert_eq!(adaptive_edges(&v, 4).unwrap(), vec![2.0, 5.0, 7.0]);
    // NaN and ±inf never become edges; B = 1 has no edges.
    let w = [f32::NAN, f32::INFINITY, 1.0, f32::NEG_INFINITY, 2.0];
    assert_eq!(adaptive_edges(&w, 2).unwrap(), vec![2.0]);
    assert_eq!(adaptive_edges(&w, 1).unwrap(), Vec::<f32>::new());
    // Fewer distinct values than bins: repeated edges (U = 2, B = 5: ranks 0, 0, 1, 1).
    assert_eq!(
        adaptive_edges(&[0.5, 0.5, -0.5], 5).unwrap(),
        vec![-0.5, -0.5, 0.5, 0.5]
    );
    // No finite value: no edges, every number in bin 0, NaN in its own bin.
    assert!(adaptive_edges(&[f32::NAN, f32::INFINITY], 30)
        .unwrap()
        .is_empty());
    assert!(adaptive_edges(&[], 30).unwrap().is_empty());
}

#[test]
fn edges_match_the_naive_reference() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for case in 0..20 {
        let n = rng.random_range(1..5000usize);
        let levels = rng.random_range(1..3000u32);
        let v: Vec<f32> = (0..n)
            .map(|_| match rng.random_range(0..20) {
                0 => f32::NAN,
                1 => -0.0,
                2 => 1.0,
                3 => -1.0,
                _ => (rng.random_range(0..levels) as f32 / levels as f32 * 2.0 - 1.0).tanh(),
            })
            .collect();
        for bins in [1, 2, 7, 30, 1000] {
            let got = adaptive_edges(&v, bins).unwrap();
            assert_eq!(got, naive_edges(&v, bins), "case {case} bins {bins}");
            assert!(got.windows(2).all(|w| w[0] <= w[1]));
        }
    }
}

/// With U ≥ B distinct values, bin j holds exactly the distinct levels of ranks
/// ⌊jU/B⌋ … ⌊(j+1)U/B⌋ − 1: on distinct data every bin holds U/B values (±1).
#[test]
fn bins_are_equal_mass_on_distinct_values() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut v: Vec<f32> = (0..10_007).map(|i| i as f32 * 0.001 - 5.0).collect();
    for i in (1..v.len()).rev() {
        v.swap(i, rng.random_range(0..=i));
    }
    let b = 30;
    let bins = EdgeBins::new(adaptive_edges(&v, b).unwrap()).unwrap();
    let mut counts = vec![0usize; b];
    for &x in &v {
        counts[bins.bin(x) as usize] += 1;
    }
    let u = v.len();
    for (j, &c) in counts.iter().enumerate() {
        assert_eq!(c, (j + 1) * u / b - j * u / b, "bin {j}");
    }
}

/// Saturated tanh units (many exact ±1.0) and ReLU zeros count once each: the other edges still
/// spread over the distinct levels instead of collapsing onto the repeated values.
#[test]
fn repeated_values_count_once() {
    let mut v = vec![1.0f32; 5000];
    v.extend(vec![-1.0f32; 5000]);
    v.extend(vec![0.0f32; 5000]);
    v.extend((1..=97).map(|i| i as f32 / 100.0));
    let e = adaptive_edges(&v, 10).unwrap();
    // U = 100 distinct levels (−1, 0, 0.01 … 0.97, 1): edges at ranks 10, 20, …, 90.
    let want: Vec<f32> = (1..10).map(|k| (10 * k - 1) as f32 / 100.0).collect();
    assert_eq!(e, want);
}

#[test]
fn edge_rule_counts_edges_at_or_below() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for len in [0usize, 1, 5, 64, 65, 300] {
        let mut edges: Vec<f32> = (0..len).map(|_| rng.random_range(-3.0f32..3.0)).collect();
        edges.sort_by(f32::total_cmp);
        if len > 3 {
            edges[2] = edges[1]; // a repeated edge
        }
        let b = EdgeBins::new(edges.clone()).unwrap();
        assert_eq!(b.bins(), len + 1);
        let mut xs = vec![
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            0.0,
            -0.0,
            f32::MAX,
        ];
        for &e in &edges {
            xs.extend([e, ulp(e, 1), ulp(e, -1)]);
        }
        xs.extend((0..200).map(|_| rng.random_range(-4.0f32..4.0)));
        for x in xs {
            assert_eq!(b.bin(x), naive_bin(&edges, x), "len {len} x {x:e}");
        }
        assert_eq!(b.bin(f32::INFINITY), len as i64);
        assert_eq!(b.bin(f32::NEG_INFINITY), 0);
    }
}

/// Binned MI under adaptive bins is the plug-in MI of the bins computed by the reference.
#[test]
fn binned_mi_uses_the_reference_bins() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let (n, d) = (700, 3);
    let acts: Vec<f32> = (0..n * d)
        .map(|i| match i % 11 {
            0 => 1.0,
            1 => f32::NAN,
            _ => (rng.random::<f32>() * 4.0 - 2.0).tanh(),
        })
        .collect();
    let y: Vec<u32> = (0..n).map(|_| rng.random_range(0..3)).collect();
    let x_ids: Vec<u32> = (0..n as u32).map(|i| i % 250).collect();
    for bins in [2, 5, 30] {
        let edges = naive_edges(&acts, bins);
        let t = common::naive_ids(&acts, d, |v| naive_bin(&edges, v));
        let want_h = common::naive_entropy(t.iter().copied());
        let mi = binned_mi(&acts, n, d, &Binning::Adaptive { bins }, &x_ids, &y).unwrap();
        assert!(
            (mi.h_t - want_h).abs() < 1e-12,
            "{bins}: {} vs {want_h}",
            mi.h_t
        );
        let pairs = |g: &[u32]| -> f64 {
            common::naive_entropy(t.iter().zip(g).map(|(&a, &b)| (a, b)))
                - common::naive_entropy(g.iter().copied())
        };
        assert!((mi.h_t_given_y - pairs(&y)).abs() < 1e-12);
        assert!((mi.h_t_given_x - pairs(&x_ids)).abs() < 1e-12);
        let log_n = (n as f64).log2();
        for v in [mi.i_xt, mi.i_ty] {
            assert!((0.0..=log_n).contains(&v), "{v}");
        }
    }
}

#[test]
fn errors() {
    for bins in [0, (1 << 24) + 1] {
        let e = adaptive_edges(&[1.0], bins).unwrap_err();
        assert!(matches!(e, Error::InvalidBinning(_)), "{e}");
        assert!(Binning::Adaptive { bins }.validate().is_err());
    }
    let e = Binning::Adaptive { bins: 30 }.binner().unwrap_err();
    assert!(e.to_string().contains("binner_for"), "{e}");
    let e = EdgeBins::new(vec![0.0, f32::NAN]).unwrap_err();
    assert!(e.to_string().contains("edge 1 is NaN"), "{e}");
    let e = EdgeBins::new(vec![0.0, 1.0, 0.5]).unwrap_err();
    assert!(
        e.to_string().contains("edge 2 = 0.5 is below edge 1 = 1"),
        "{e}"
    );
}
