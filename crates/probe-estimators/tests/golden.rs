//! Golden test against numpy: `fixtures/make_golden.py` bins a 600×6 matrix (saturated tanh values,
//! values on and one ulp beside the edges, out-of-range values, ±0.0) with fixed, floor and adaptive
//! bins and writes the entropies it gets to `fixtures/golden_binned.txt`; we must agree.

use probe_estimators::{binned_mi, Binning};

mod common;
use common::assert_mi_entropies;

struct Golden {
    n: usize,
    d: usize,
    acts: Vec<f32>,
    x: Vec<u32>,
    y: Vec<u32>,
    /// (binning, distinct, h_t, h_t_given_x, h_t_given_y)
    expected: Vec<(Binning, usize, f64, f64, f64)>,
}

fn load() -> Golden {
    let text = include_str!("fixtures/golden_binned.txt");
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let shape: Vec<usize> = lines.next().unwrap()[6..]
        .split(' ')
        .map(|v| v.parse().unwrap())
        .collect();
    let (n, d) = (shape[0], shape[1]);
    let mut acts = Vec::with_capacity(n * d);
    for _ in 0..n {
        // Each value is the repr of an f32 widened to f64: parsing and narrowing is exact.
        acts.extend(
            lines
                .next()
                .unwrap()
                .split(' ')
                .map(|v| v.parse::<f64>().unwrap() as f32),
        );
    }
    let ids =
        |line: &str| -> Vec<u32> { line[2..].split(' ').map(|v| v.parse().unwrap()).collect() };
    let (x, y) = (ids(lines.next().unwrap()), ids(lines.next().unwrap()));
    let expected = lines
        .map(|line| {
            let w: Vec<&str> = line.split(' ').collect();
            let (binning, rest) = match w[0] {
                "fixed" => (
                    Binning::fixed(
                        w[1].parse().unwrap(),
                        w[2].parse().unwrap(),
                        w[3].parse().unwrap(),
                    ),
                    &w[4..],
                ),
                "adaptive" => (
                    Binning::Adaptive {
                        bins: w[1].parse().unwrap(),
                    },
                    &w[2..],
                ),
                _ => (
                    Binning::Floor {
                        width: w[1].parse().unwrap(),
                    },
                    &w[2..],
                ),
            };
            let num = |key: &str| rest[rest.iter().position(|&v| v == key).unwrap() + 1];
            let f = |key: &str| num(key).parse::<f64>().unwrap();
            (
                binning,
                num("distinct").parse().unwrap(),
                f("h_t"),
                f("h_t_given_x"),
                f("h_t_given_y"),
            )
        })
        .collect();
    Golden {
        n,
        d,
        acts,
        x,
        y,
        expected,
    }
}

#[test]
fn binned_entropies_match_numpy() {
    let g = load();
    assert_eq!(
        (g.acts.len(), g.x.len(), g.y.len(), g.expected.len()),
        (g.n * g.d, g.n, g.n, 4)
    );
    for (binning, distinct, h_t, h_t_x, h_t_y) in g.expected {
        let mi = binned_mi(&g.acts, g.n, g.d, &binning, &g.x, &g.y).unwrap();
        assert_eq!(mi.distinct, distinct, "{binning:?}");
        // Both sides sum a few hundred terms in different orders: agreement to ~1e-14 is expected,
        // 1e-12 leaves room without hiding any real difference (one sample moved changes ~1e-3).
        let case = format!("{binning:?} vs numpy");
        assert_mi_entropies(&mi, (h_t, h_t_x, h_t_y), 1e-12, &case);
    }
}
