//! Per-layer activation statistics against hand-computed values and exact identities.

use candle_core::{DType, Device, Tensor};
use probe_estimators::{layer_stats, layer_stats_tensor, Binning, Error, NeuronEntropy};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// 4 samples × 4 neurons, every count by hand.
/// * neuron 0: −0.9, 0.0, 0.3, 0.995 → bins (Fixed, 5 edges on [−1, 1]: width 0.5) 0, 2, 2, 3;
/// * neuron 1: 0.0, −0.0, 0.0, 0.0 → dead (−0.0 == 0.0), all in bin 2;
/// * neuron 2: NaN everywhere → dead, the NaN bin;
/// * neuron 3: −1.0, 1.0, inf, −0.2 → bins 0, 3, 3, 1.
///
/// Zeros: 1 (n0) + 4 (n1) = 5 of 16. |x| ≥ 0.99: 0.995, −1.0, 1.0, inf = 4 of 16.
/// H: n0 = H(1/4, 1/2, 1/4) = 1.5, n1 = n2 = 0, n3 = 1.5. Pooled bins over the 16 values:
/// bin 0: 2, bin 1: 1, bin 2: 6, bin 3: 3, NaN: 4.
#[test]
fn hand_computed_example() {
    let nan = f32::NAN;
    let acts = [
        -0.9,
        0.0,
        nan,
        -1.0, //
        0.0,
        -0.0,
        nan,
        1.0, //
        0.3,
        0.0,
        nan,
        f32::INFINITY, //
        0.995,
        0.0,
        nan,
        -0.2,
    ];
    let b = Binning::Fixed {
        lo: -1.0,
        hi: 1.0,
        edges: 5,
    };
    let s = layer_stats(&acts, 4, 4, Some(&b), 0.99).unwrap();
    assert_eq!((s.samples, s.neurons, s.dead_units), (4, 4, 2));
    assert_eq!((s.sparsity, s.saturation), (5.0 / 16.0, 4.0 / 16.0));
    let e = s.entropy.unwrap();
    assert_eq!((e.min, e.max, e.mean), (0.0, 1.5, 0.75));
    let pooled = [2.0f64, 1.0, 6.0, 3.0, 4.0];
    let want: f64 = pooled.iter().map(|c| c / 16.0 * (16.0 / c).log2()).sum();
    assert!(
        (e.surprisal_mean - want).abs() < 1e-15,
        "{} vs {want}",
        e.surprisal_mean
    );
    // Without a binning only the binning-free statistics are computed.
    let s = layer_stats(&acts, 4, 4, None, 0.99).unwrap();
    assert_eq!((s.dead_units, s.entropy), (2, None));
    // The threshold is configurable: at 0.9, −0.9 saturates too.
    assert_eq!(
        layer_stats(&acts, 4, 4, None, 0.9).unwrap().saturation,
        5.0 / 16.0
    );
}

/// Every neuron visits each of the B bins equally often: each per-neuron entropy and the pooled
/// surprisal are exactly log2 B, under fixed, adaptive and floor bins.
#[test]
fn uniform_grid_has_log2_bins_per_neuron() {
    let (bins, reps, d) = (29usize, 7usize, 5usize);
    let n = bins * reps;
    let width = 2.0 / bins as f64;
    // Sample i, neuron j: the centre of bin (i + 3j) mod B of linspace(−1, 1, 30).
    let acts: Vec<f32> = (0..n)
        .flat_map(|i| {
            (0..d).map(move |j| (-1.0 + width * (((i + 3 * j) % bins) as f64 + 0.5)) as f32)
        })
        .collect();
    let log_b = (bins as f64).log2();
    for binning in [
        Binning::Fixed {
            lo: -1.0,
            hi: 1.0,
            edges: bins + 1,
        },
        Binning::Adaptive { bins },
        // Bin centres sit on multiples of `width` here; a slightly narrower width keeps floor's
        // boundaries away from them (bins m < 0 shift to m − 1, all still distinct).
        Binning::Floor {
            width: width * 0.999,
        },
    ] {
        let e = layer_stats(&acts, n, d, Some(&binning), 0.99)
            .unwrap()
            .entropy
            .unwrap();
        assert_eq!(
            e,
            NeuronEntropy {
                mean: log_b,
                min: log_b,
                max: log_b,
                surprisal_mean: log_b
            },
            "{binning:?}"
        );
    }
}

/// The sorting path (unbounded floor bins) and the dense path (fixed bins) agree exactly when
/// they bin alike: Floor{1} and Fixed{0, B, B + 1} on values in [0, B).
#[test]
fn floor_and_dense_paths_agree() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let (n, d, b) = (500, 130, 12usize);
    let acts: Vec<f32> = (0..n * d)
        .map(|i| {
            // Neuron-dependent spread, so the entropies differ between neurons.
            let spread = 1 + (i % d) % b;
            rng.random_range(0..spread) as f32 + 0.25
        })
        .collect();
    let floor = layer_stats(&acts, n, d, Some(&Binning::Floor { width: 1.0 }), 0.99).unwrap();
    let fixed = Binning::Fixed {
        lo: 0.0,
        hi: b as f64,
        edges: b + 1,
    };
    let dense = layer_stats(&acts, n, d, Some(&fixed), 0.99).unwrap();
    assert_eq!(floor, dense);
    let e = dense.entropy.unwrap();
    assert!(e.min == 0.0 && e.max > 3.4 && e.max <= (b as f64).log2());
    assert_eq!(
        dense.dead_units,
        d.div_ceil(b),
        "neurons with spread 1 are constant"
    );
}

/// On random layers: 0 ≤ H_j ≤ log2 min(n, bins), mean within [min, max], pooled surprisal ≥
/// the mean per-neuron entropy (concavity), fractions in [0, 1]; the tensor path agrees.
#[test]
fn ranges_and_concavity() {
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    for case in 0..10 {
        let n = rng.random_range(1..300usize);
        let d = rng.random_range(1..40usize);
        let acts: Vec<f32> = (0..n * d)
            .map(|i| ((i % d) as f32 * 0.3 + rng.random_range(-2.0f32..2.0)).tanh())
            .collect();
        for (binning, bins) in [
            (
                Binning::Fixed {
                    lo: -1.0,
                    hi: 1.0,
                    edges: 30,
                },
                29,
            ),
            (Binning::Adaptive { bins: 10 }, 10),
            (Binning::Floor { width: 0.07 }, usize::MAX),
        ] {
            let s = layer_stats(&acts, n, d, Some(&binning), 0.95).unwrap();
            let e = s.entropy.clone().unwrap();
            let cap = (n.min(bins) as f64).log2();
            let ctx = format!("case {case} n={n} d={d} {binning:?}: {s:?}");
            assert!(e.min >= 0.0 && e.max <= cap + 1e-12, "{ctx}");
            assert!(e.min <= e.mean + 1e-12 && e.mean <= e.max + 1e-12, "{ctx}");
            assert!(e.surprisal_mean >= e.mean - 1e-12, "{ctx}");
            assert!((0.0..=1.0).contains(&s.sparsity) && (0.0..=1.0).contains(&s.saturation));
            let t = Tensor::from_vec(acts.clone(), (n, d), &Device::Cpu).unwrap();
            let t = t.to_dtype(DType::F64).unwrap();
            assert_eq!(layer_stats_tensor(&t, Some(&binning), 0.95).unwrap(), s);
        }
    }
}

#[test]
fn errors() {
    let acts = [0.0f32; 6];
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let e = layer_stats(&acts, 3, 2, None, bad).unwrap_err();
        assert!(
            matches!(
                e,
                Error::InvalidParameter {
                    what: "saturation",
                    ..
                }
            ),
            "{e}"
        );
    }
    let e = layer_stats(&acts, 4, 2, None, 0.99).unwrap_err();
    assert!(
        matches!(
            e,
            Error::LengthMismatch {
                expected: 8,
                got: 6,
                ..
            }
        ),
        "{e}"
    );
    assert!(layer_stats(&[], 0, 2, None, 0.99).is_err());
    assert!(layer_stats(&acts, 6, 0, None, 0.99).is_err());
    let e = layer_stats(&acts, 3, 2, Some(&Binning::Adaptive { bins: 0 }), 0.99).unwrap_err();
    assert!(matches!(e, Error::InvalidBinning(_)), "{e}");
    let scalar = Tensor::new(1.0f32, &Device::Cpu).unwrap();
    assert!(matches!(
        layer_stats_tensor(&scalar, None, 0.99).unwrap_err(),
        Error::InvalidShape { .. }
    ));
}
