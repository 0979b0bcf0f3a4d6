//! Unit tests of `binning` (private items).

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
    // Golden values: numpy 2.4 `[repr(float(v)) for v in np.linspace(-1, 1, 30)[[1, 14, 15, 28]]]`.
    let e = Binning::DEFAULT_FIXED.edges().unwrap();
    assert_eq!(e.len(), 30);
    assert_eq!((e[0], e[29]), (-1.0, 1.0));
    assert_eq!(e[1], -0.9310344827586207);
    assert_eq!(e[14], -0.034482758620689724);
    assert_eq!(e[15], 0.034482758620689724);
    assert_eq!(e[28], 0.9310344827586206);
    // np.clip(np.digitize(x.astype(float64), e) - 1, 0, 28) for these float32 x = [0 0 7 14 28 28 28].
    let b = Binning::DEFAULT_FIXED.binner().unwrap();
    let x = [-7.0f32, -1.0, -0.5, 0.0, 0.999, 1.0, 1.5];
    assert_eq!(x.map(|v| b.bin(v)), [0, 0, 7, 14, 28, 28, 28]);
}

/// Fixed binnings `(lo, hi, edges)` of a few edges: the default, three edges, two edges.
const FEW_EDGES: [(f64, f64, usize); 3] = [(-1.0, 1.0, 30), (-1.0, 1.0, 3), (0.0, 1.0, 2)];

#[test]
fn fixed_guess_agrees_with_edge_count_around_every_edge() {
    for (lo, hi, n) in FEW_EDGES.into_iter().chain([(-3.7, 11.1, 1000)]) {
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
fn next_up_steps_one_ulp() {
    assert_eq!(next_up(0.0), f32::from_bits(1));
    assert_eq!(next_up(-0.0), f32::from_bits(1));
    assert_eq!(next_up(-f32::from_bits(1)), -0.0);
    assert_eq!(next_up(1.0), 1.0 + f32::EPSILON);
    assert_eq!(next_up(f32::MAX), f32::INFINITY);
    assert_eq!(next_up(f32::NEG_INFINITY), f32::MIN);
}

#[test]
fn one_step_guess_holds_for_ordinary_edges() {
    for (lo, hi, n) in FEW_EDGES.into_iter().chain([(-3.7, 11.1, 100_000)]) {
        let Binner::Fixed(b) = Binning::Fixed { lo, hi, edges: n }.binner().unwrap() else {
            unreachable!()
        };
        assert!(b.one_step, "({lo}, {hi}, {n})");
    }
}

#[test]
fn guess_can_undershoot_on_an_f32_exact_edge() {
    // Edge 51 of linspace(-1, 2, 69) is exactly 1.25, but (1.25 + 1) * (1 / step) rounds to
    // just below 51: the guess says 50 and only the upward correction gives the right bin.
    // numpy agrees: np.digitize(1.25, np.linspace(-1, 2, 69)) - 1 == 51 (50 one f32 ulp below).
    let Binner::Fixed(b) = (Binning::fixed(-1.0, 2.0, 69)).binner().unwrap() else {
        unreachable!()
    };
    assert_eq!(b.edge(51.0), 1.25);
    assert_eq!(b.guess(1.25), 50.0);
    assert_eq!(b.bin(1.25), 51);
    assert_eq!(b.bin(f32::from_bits(1.25f32.to_bits() - 1)), 50);
}

#[test]
fn absurd_edges_stay_exact_via_binary_search() {
    // step = 1e-309 is subnormal, so 1/step = inf and the guess at x = 0 is NaN -> `last`:
    // maximally wrong. All interior edges lie in (0, 1e-304], below the smallest f32 > 0.
    let binning = Binning::fixed(0.0, 1e-304, 100_001);
    let Binner::Fixed(b) = binning.binner().unwrap() else {
        unreachable!()
    };
    assert!(b.inv_step.is_infinite());
    assert!(!b.one_step);
    assert_eq!(b.guess(0.0), 99_999.0);
    for (x, want) in [
        (0.0, 0),
        (-0.0, 0),
        (1e-45, 99_999),
        (-1e-45, 0),
        (1.0, 99_999),
    ] {
        assert_eq!(b.bin(x), want, "x = {x:e}");
    }
}

#[test]
fn guess_check_detects_a_bad_guess_and_bin_stays_exact() {
    let edges = Binning::DEFAULT_FIXED.edges().unwrap();
    let mut b = FixedBins::new(-1.0, 2.0 / 29.0, &edges);
    assert!(b.guess_within_one_bin(&edges));
    b.inv_step *= 1.2; // guess now drifts by up to ~6 bins
    assert!(!b.guess_within_one_bin(&edges));
    for i in -1200..=1200 {
        let x = i as f32 / 1000.0;
        assert_eq!(b.bin(x), fixed_slow(&edges, x), "x = {x}");
    }
}

#[test]
fn fixed_specials() {
    let b = Binning::DEFAULT_FIXED.binner().unwrap();
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
        Binning::fixed(1.0, 1.0, 30),
        Binning::fixed(f64::NAN, 1.0, 30),
        Binning::fixed(-1.0, f64::INFINITY, 30),
        Binning::fixed(-f64::MAX, f64::MAX, 30),
        Binning::fixed(-1.0, 1.0, 1),
        Binning::fixed(-1.0, 1.0, MAX_EDGES + 1),
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
    let msg = Binning::fixed(-1.0, 1.0, 1)
        .validate()
        .unwrap_err()
        .to_string();
    assert!(msg.contains("edges = 1"), "{msg}");
}
