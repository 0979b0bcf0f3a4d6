//! KSG estimator (`ksg_mi`), Ross's labels estimator (`ksg_mi_labels`) and `digamma`: known values,
//! Gaussian ground truth, an independent numpy brute force on committed data, an obviously-correct
//! reference implementation, and typed errors.

use std::f64::consts::{LN_2, PI};

use probe_estimators::{digamma, ksg_mi, ksg_mi_labels, Error};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

mod common;

/// Euler–Mascheroni constant.
const GAMMA: f64 = 0.577_215_664_901_532_9;

/// One standard normal draw by Box–Muller.
fn gaussian(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]: ln is finite
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}

/// `n` samples of `d` independent pairs `(x_m, y_m)`, each standard bivariate normal with
/// correlation `rho`; row-major `[n, d]` each. True `I(X;Y) = −(d/2)·ln(1 − ρ²)` nats.
fn correlated(n: usize, d: usize, rho: f64, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut x, mut y) = (Vec::with_capacity(n * d), Vec::with_capacity(n * d));
    for _ in 0..n * d {
        let a = gaussian(&mut rng);
        let b = gaussian(&mut rng);
        x.push(a as f32);
        y.push((rho * a + (1.0 - rho * rho).sqrt() * b) as f32);
    }
    (x, y)
}

fn truth_nats(d: usize, rho: f64) -> f64 {
    -(d as f64) / 2.0 * (1.0 - rho * rho).ln()
}

fn ksg_nats(x: &[f32], dx: usize, y: &[f32], dy: usize, n: usize, k: usize) -> f64 {
    ksg_mi(x, dx, y, dy, n, k).unwrap() * LN_2
}

#[test]
fn digamma_known_values() {
    let cases = [
        (1.0, -GAMMA),
        (2.0, 1.0 - GAMMA),
        (0.5, -GAMMA - 2.0 * 2f64.ln()),
        (0.25, -GAMMA - PI / 2.0 - 3.0 * 2f64.ln()),
        // ψ(10) = H_9 − γ.
        (10.0, (1..10).map(|i| 1.0 / i as f64).sum::<f64>() - GAMMA),
        // ψ(100) = H_99 − γ.
        (100.0, (1..100).map(|i| 1.0 / i as f64).sum::<f64>() - GAMMA),
    ];
    for (x, want) in cases {
        let got = digamma(x);
        assert!((got - want).abs() < 1e-12, "psi({x}) = {got}, want {want}");
    }
    // Large x: ψ(x) = ln x − 1/(2x) − 1/(12x²) + O(x⁻⁴).
    let x: f64 = 1e7;
    let want = x.ln() - 0.5 / x - 1.0 / (12.0 * x * x);
    assert!((digamma(x) - want).abs() < 1e-14);
    // Recurrence ψ(x + 1) = ψ(x) + 1/x across the switch to the series at 10.
    for x in [0.01, 0.3, 1.7, 8.9, 9.5, 9.999, 10.0, 37.25] {
        let lhs = digamma(x + 1.0);
        let rhs = digamma(x) + 1.0 / x;
        assert!((lhs - rhs).abs() < 1e-12 * rhs.abs().max(1.0), "x = {x}");
    }
    assert!(digamma(0.0).is_nan());
    assert!(digamma(-1.5).is_nan());
    assert!(digamma(f64::NAN).is_nan());
    assert_eq!(digamma(f64::INFINITY), f64::INFINITY);
}

/// The estimator from its definition, written for clarity: all joint distances sorted, the k-th
/// one as ε, counts by a filter. Distances use the same `f32` arithmetic as `ksg_mi`, so the two
/// agree exactly, ties included.
fn naive_ksg_bits(x: &[f32], dx: usize, y: &[f32], dy: usize, n: usize, k: usize) -> f64 {
    let dist = |a: &[f32], i: usize, j: usize, d: usize| -> f32 {
        (0..d)
            .map(|m| (a[i * d + m] - a[j * d + m]).abs())
            .fold(0.0f32, f32::max)
    };
    let mut sum = 0.0;
    for i in 0..n {
        let others: Vec<usize> = (0..n).filter(|&j| j != i).collect();
        let mut joint: Vec<f32> = others
            .iter()
            .map(|&j| dist(x, i, j, dx).max(dist(y, i, j, dy)))
            .collect();
        joint.sort_by(f32::total_cmp);
        let eps = joint[k - 1];
        let nx = others.iter().filter(|&&j| dist(x, i, j, dx) < eps).count();
        let ny = others.iter().filter(|&&j| dist(y, i, j, dy) < eps).count();
        sum += digamma(nx as f64 + 1.0) + digamma(ny as f64 + 1.0);
    }
    (digamma(k as f64) + digamma(n as f64) - sum / n as f64) / LN_2
}

#[test]
fn matches_reference_implementation() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for (n, dx, dy, k) in [
        (2, 1, 1, 1),
        (3, 1, 2, 2),
        (50, 1, 1, 3),
        (257, 3, 2, 3),
        (300, 5, 4, 7),
    ] {
        let x: Vec<f32> = (0..n * dx).map(|_| gaussian(&mut rng) as f32).collect();
        let y: Vec<f32> = (0..n * dy)
            .map(|i| (0.6 * x[i % (n * dx)] as f64 + gaussian(&mut rng)) as f32)
            .collect();
        let fast = ksg_mi(&x, dx, &y, dy, n, k).unwrap();
        let slow = naive_ksg_bits(&x, dx, &y, dy, n, k);
        assert!(
            (fast - slow).abs() < 1e-12,
            "n={n} dx={dx} dy={dy} k={k}: {fast} vs {slow}"
        );
    }
    // Heavy ties (values on a coarse grid, duplicates included): strictness and the k-th distance
    // must follow the definition exactly.
    let n = 400;
    let x: Vec<f32> = (0..n * 2).map(|_| rng.random_range(0..6) as f32).collect();
    let y: Vec<f32> = (0..n)
        .map(|i| x[2 * i] + rng.random_range(0..3) as f32)
        .collect();
    for k in [1, 3, 10] {
        let fast = ksg_mi(&x, 2, &y, 1, n, k).unwrap();
        let slow = naive_ksg_bits(&x, 2, &y, 1, n, k);
        assert!((fast - slow).abs() < 1e-12, "ties, k={k}: {fast} vs {slow}");
    }
}

#[test]
fn sample_order_and_symmetry_do_not_matter() {
    let (n, d) = (500, 3);
    let (x, y) = correlated(n, d, 0.7, 11);
    let base = ksg_mi(&x, d, &y, d, n, 3).unwrap();
    // Swapping the roles of X and Y gives the same estimate (the formula is symmetric).
    let swapped = ksg_mi(&y, d, &x, d, n, 3).unwrap();
    assert!((base - swapped).abs() < 1e-12);
    // Reversing the sample order changes only the summation order.
    let rev = |a: &[f32]| a.chunks(d).rev().flatten().copied().collect::<Vec<f32>>();
    let reversed = ksg_mi(&rev(&x), d, &rev(&y), d, n, 3).unwrap();
    assert!((base - reversed).abs() < 1e-12);
}

/// Independent X, Y of any dimension: KSG is nearly unbiased here (Kraskov et al. 2004 find it
/// exact up to statistical fluctuations for independent variables in all dimensions); with N = 4000
/// and k = 3 the spread is about 0.01 nats, so |I| < 0.05 nats holds with a wide margin while a
/// systematic error (e.g. an off-by-one in n_x, which shifts I by about 1/n_x) would fail.
#[test]
fn independent_gives_zero() {
    let n = 4000;
    for d in 1..=10 {
        let (x, y) = correlated(n, d, 0.0, 1000 + d as u64);
        let est = ksg_nats(&x, d, &y, d, n, 3);
        assert!(est.abs() < 0.05, "d = {d}: I = {est} nats, want |I| < 0.05");
    }
}

/// Jointly Gaussian ground truth, d = 1…10 independent pairs, ρ = 0.5 and 0.9, N = 4000, k = 3.
///
/// Tolerance. KSG's error is statistical (about 0.01–0.03 nats here) plus a systematic
/// underestimate from the non-uniformity of the density over the k-NN box (Kraskov et al. 2004,
/// §II–III). The box has side ε with ε^(2d) ∝ k/N in the 2d-dimensional joint space, and the
/// leading non-uniformity term is second order, ∝ ε² ∝ (k/N)^(1/d): negligible for d ≤ 2
/// ((k/N)^(1/2) = 0.027) but 0.49 at d = 10 — KSG's well-known failure on high-dimensional, strongly
/// dependent data (Gao et al. 2015). So:
/// * d ≤ 2: |Î − I| < 0.05 + 0.03·d nats (0.05 statistical, 0.03 per dimension pair for the small
///   bias; measured errors stay below 0.03).
/// * every d: I·(1 − 1.5·b) − tol ≤ Î ≤ I + tol with b = (k/N)^(1/d) and tol = 0.05 + 0.03·d: the
///   estimate may fall short by the bias model, with a factor 1.5 over the ratios (bias / (I·b))
///   measured for this set-up, 0.7–1.2, but may not overshoot. A wrong count, a wrong ψ argument
///   or a nats/bits slip still fails.
#[test]
fn gaussian_ground_truth() {
    let (n, k) = (4000usize, 3usize);
    for rho in [0.5, 0.9] {
        for d in 1..=10 {
            let (x, y) = correlated(n, d, rho, 100 * d as u64 + (rho * 10.0) as u64);
            let truth = truth_nats(d, rho);
            let est = ksg_nats(&x, d, &y, d, n, k);
            let tol = 0.05 + 0.03 * d as f64;
            if d <= 2 {
                assert!(
                    (est - truth).abs() < tol,
                    "rho={rho} d={d}: {est} vs {truth} nats, tol {tol}"
                );
            }
            let b = (k as f64 / n as f64).powf(1.0 / d as f64);
            let low = truth * (1.0 - 1.5 * b) - tol;
            assert!(
                est > low && est < truth + tol,
                "rho={rho} d={d}: {est} nats not in ({low}, {})",
                truth + tol
            );
        }
    }
}

/// KSG is consistent: its systematic error shrinks as N grows. For d = 5, ρ = 0.9 (truth 4.15 nats)
/// the error is about −1.4 nats at N = 1000 and about −1.0 at N = 4000, far beyond the noise.
#[test]
fn bias_shrinks_with_n() {
    let (d, rho) = (5, 0.9);
    let truth = truth_nats(d, rho);
    let err = |n: usize| {
        let (x, y) = correlated(n, d, rho, 5);
        ksg_nats(&x, d, &y, d, n, 3) - truth
    };
    let (small, large) = (err(1000), err(4000));
    assert!(
        large.abs() + 0.1 < small.abs(),
        "errors {small} (N=1000) and {large} (N=4000)"
    );
}

#[test]
fn errors() {
    let x = [0.0f32, 1.0, 2.0, 3.0];
    let y = [1.0f32, 0.0, 3.0, 2.0];
    assert!(ksg_mi(&x, 1, &y, 1, 4, 3).is_ok());
    let e = ksg_mi(&[], 1, &[], 1, 0, 1).unwrap_err();
    common::assert_zero_dimension(&e, "n");
    let e = ksg_mi(&x, 0, &y, 1, 4, 1).unwrap_err();
    assert!(
        matches!(e, Error::InvalidDimension { what: "dx", .. }),
        "{e}"
    );
    let e = ksg_mi(&x, 1, &y, 0, 4, 1).unwrap_err();
    assert!(
        matches!(e, Error::InvalidDimension { what: "dy", .. }),
        "{e}"
    );
    let e = ksg_mi(&x, 1, &y[..3], 1, 4, 1).unwrap_err();
    assert!(
        matches!(
            e,
            Error::LengthMismatch {
                what: "y",
                expected: 4,
                got: 3
            }
        ),
        "{e}"
    );
    let e = ksg_mi(&x, 2, &y, 1, 4, 1).unwrap_err();
    assert!(
        matches!(
            e,
            Error::LengthMismatch {
                what: "x",
                expected: 8,
                got: 4
            }
        ),
        "{e}"
    );
    let e = ksg_mi(&x, usize::MAX, &y, 1, 4, 1).unwrap_err();
    assert!(
        matches!(e, Error::InvalidDimension { what: "dx", .. }),
        "{e}"
    );
    for k in [0, 4, 5] {
        let e = ksg_mi(&x, 1, &y, 1, 4, k).unwrap_err();
        assert!(
            matches!(e, Error::InvalidParameter { what: "k", .. }),
            "k={k}: {e}"
        );
    }
    let e = ksg_mi(&x[..1], 1, &y[..1], 1, 1, 1).unwrap_err();
    assert!(
        matches!(e, Error::InvalidParameter { what: "k", .. }),
        "{e}"
    );
    let mut bad = x;
    bad[2] = f32::NAN;
    let e = ksg_mi(&bad, 1, &y, 1, 4, 1).unwrap_err();
    assert!(matches!(e, Error::NonFinite { what: "x", row: 2 }), "{e}");
    let mut bad = [0.0f32; 8];
    bad[5] = f32::NEG_INFINITY;
    let e = ksg_mi(&x, 1, &bad, 2, 4, 1).unwrap_err();
    assert!(matches!(e, Error::NonFinite { what: "y", row: 2 }), "{e}");
    assert!(e.to_string().contains("row 2"));
}

/// One case of `fixtures/ksg.txt`: its header fields and `n` rows of numbers.
struct FixtureCase<'a> {
    kind: &'a str,
    dims: Vec<usize>,
    bits: f64,
    rows: Vec<Vec<f32>>,
}

/// The cases of `fixtures/ksg.txt` (made by `scripts/make_ksg_fixture.py`): a header line
/// `ksg n dx dy k bits` or `labels n d k bits`, then `n` rows of numbers.
fn fixture_cases() -> Vec<FixtureCase<'static>> {
    let text = include_str!("fixtures/ksg.txt");
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let mut cases = Vec::new();
    while let Some(head) = lines.next() {
        let f: Vec<&str> = head.split(' ').collect();
        let dims: Vec<usize> = f[1..f.len() - 1]
            .iter()
            .map(|v| v.parse().unwrap())
            .collect();
        let rows = (0..dims[0])
            .map(|_| {
                // "0.36" parses to the nearest f32, as numpy's float32 conversion does.
                let line = lines.next().unwrap();
                line.split(' ').map(|v| v.parse().unwrap()).collect()
            })
            .collect();
        let bits = f[f.len() - 1].parse().unwrap();
        cases.push(FixtureCase {
            kind: f[0],
            dims,
            bits,
            rows,
        });
    }
    cases
}

/// KSG for d ≥ 3 and Ross's labels estimator against an independent numpy brute force on the
/// same data (`scripts/make_ksg_fixture.py`: max-norm distances in float32, ψ at integers from
/// harmonic sums): the counts agree exactly, so the estimates agree to float64 rounding of a sum
/// of a few hundred digamma values (1e-9 bits is far above that and far below any wrong count,
/// which moves the estimate by about 1/(n·n_x·ln 2) ≥ 1e-6 bits).
#[test]
fn matches_numpy_fixture() {
    let cases = fixture_cases();
    assert_eq!(cases.len(), 5, "fixture cases");
    for c in &cases {
        let got = match (c.kind, &c.dims[..]) {
            ("ksg", &[n, dx, dy, k]) => {
                let x: Vec<f32> = c.rows.iter().flat_map(|r| r[..dx].to_vec()).collect();
                let y: Vec<f32> = c
                    .rows
                    .iter()
                    .flat_map(|r| r[dx..dx + dy].to_vec())
                    .collect();
                ksg_mi(&x, dx, &y, dy, n, k).unwrap()
            }
            ("labels", &[_, d, k]) => {
                let t: Vec<f32> = c.rows.iter().flat_map(|r| r[..d].to_vec()).collect();
                let y: Vec<u32> = c.rows.iter().map(|r| r[d] as u32).collect();
                ksg_mi_labels(&t, d, &y, k).unwrap()
            }
            other => panic!("unknown fixture case {other:?}"),
        };
        assert!(
            (got - c.bits).abs() < 1e-9,
            "{} {:?}: probe {got} bits, numpy {} bits",
            c.kind,
            c.dims,
            c.bits
        );
    }
}
