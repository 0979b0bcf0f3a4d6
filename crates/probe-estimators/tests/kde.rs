//! KDE bounds (`kde_mi`): closed form on the 12-bit inputs, an independent f64 double-loop
//! reference, chunk-size invariance, range properties, and typed errors.

mod common;

use std::collections::BTreeMap;
use std::f64::consts::{LN_2, PI};

use candle_core::{DType, Device, Tensor};
use probe_estimators::{kde_mi, kde_mi_chunked, Error, KdeMi};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The CPU and, in a build with the `cuda` feature, GPU 0. Without a GPU a CUDA build fails here,
/// saying so, as `device_binned.rs`'s CUDA instances do: it never passes on the CPU alone.
fn devices() -> Vec<Device> {
    #[allow(unused_mut)] // pushed to only with `cuda`
    let mut devices = vec![Device::Cpu];
    #[cfg(feature = "cuda")]
    devices.push(probe_estimators::cuda::open_device(0).unwrap_or_else(|e| {
        panic!("the CUDA part of these tests needs a GPU; open_device(0) failed: {e}")
    }));
    devices
}

fn gaussian(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}

/// Reference: `F_S(s)` in nats straight from the definition, an f64 double loop over the samples
/// `idx` with squared distances from `dist2(i, j)` (no chunks, no matmul identity, no centring).
fn naive_f(dist2: &impl Fn(usize, usize) -> f64, idx: &[usize], s: f64) -> f64 {
    let m = idx.len() as f64;
    let mut total = 0.0;
    for &i in idx {
        let mut sum = 0.0;
        for &j in idx {
            sum += (-dist2(i, j) / s).exp();
        }
        total += -(sum / m).ln();
    }
    total / m
}

/// Squared Euclidean distance between rows `i` and `j` of the row-major `[_, d]` matrix `t`.
fn euclid2(t: &[f64], d: usize) -> impl Fn(usize, usize) -> f64 + '_ {
    move |i, j| (0..d).map(|c| (t[i * d + c] - t[j * d + c]).powi(2)).sum()
}

/// Reference `KdeMi` in bits from [`naive_f`], for `y.len()` samples.
fn naive_kde(dist2: impl Fn(usize, usize) -> f64, y: &[u32], sigma2: f64) -> KdeMi {
    let n = y.len();
    let all: Vec<usize> = (0..n).collect();
    let mut classes: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, &c) in y.iter().enumerate() {
        classes.entry(c).or_default().push(i);
    }
    let mi = |s: f64| {
        let f_all = naive_f(&dist2, &all, s);
        let cond: f64 = classes
            .values()
            .map(|idx| idx.len() as f64 / n as f64 * naive_f(&dist2, idx, s))
            .sum();
        (f_all / LN_2, (f_all - cond) / LN_2)
    };
    let (i_xt_upper, i_ty_upper) = mi(2.0 * sigma2);
    let (i_xt_lower, i_ty_lower) = mi(8.0 * sigma2);
    KdeMi {
        i_xt_upper,
        i_xt_lower,
        i_ty_upper,
        i_ty_lower,
        sigma2,
    }
}

fn random_data(n: usize, d: usize, classes: u32, seed: u64) -> (Vec<f32>, Vec<u32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let y: Vec<u32> = (0..n).map(|_| rng.random_range(0..classes)).collect();
    // Class-dependent mean so that I(T;Y) is neither 0 nor maximal.
    let t: Vec<f32> = (0..n * d)
        .map(|e| (gaussian(&mut rng) + 0.7 * y[e / d] as f64) as f32)
        .collect();
    (t, y)
}

/// `(I_upper, I_lower)` of `X` itself on the 12-bit set, closed form in nats: for every row the
/// Hamming distances to the 4096 rows give `Σ_j exp(−h_ij/s) = (1 + e^{−1/s})^12`, hence
/// `I = ln 4096 − 12·ln(1 + e^{−1/s})` with `s = 2σ²` (upper) or `8σ²` (lower).
fn twelve_bit_closed_form(sigma2: f64) -> (f64, f64) {
    let f = |s: f64| 4096f64.ln() - 12.0 * (-1.0 / s).exp().ln_1p();
    (f(2.0 * sigma2), f(8.0 * sigma2))
}

fn twelve_bit_tensor(device: &Device) -> Tensor {
    Tensor::from_vec(common::twelve_bit_inputs(), (4096, 12), device).unwrap()
}

fn rel_close(got: f64, want: f64, rel: f64) -> bool {
    (got - want).abs() <= rel * want.abs().max(1e-300)
}

/// The four estimates as an array, for element-wise comparisons.
fn values(m: &KdeMi) -> [f64; 4] {
    [m.i_xt_upper, m.i_xt_lower, m.i_ty_upper, m.i_ty_lower]
}

/// 0/1 inputs give exactly representable distances (after centring: ±0.5 values), so only the
/// f64 `exp`/`ln`/summation rounding remains: 1e-9 relative is tight for it yet loose enough for a
/// device `exp` that differs from the host's by an ulp.
#[test]
fn twelve_bit_inputs_match_closed_form() {
    let y = common::twelve_bit_labels();
    for device in devices() {
        let t = twelve_bit_tensor(&device);
        for sigma2 in [1e-3, 0.05, 0.1, 1.0] {
            let (upper, lower) = twelve_bit_closed_form(sigma2);
            let mi = kde_mi(&t, &y, sigma2).unwrap();
            assert_eq!(mi.sigma2, sigma2);
            assert!(
                rel_close(mi.i_xt_upper, upper / LN_2, 1e-9),
                "{device:?} sigma2={sigma2}: upper {} vs {}",
                mi.i_xt_upper,
                upper / LN_2
            );
            assert!(
                rel_close(mi.i_xt_lower, lower / LN_2, 1e-9),
                "{device:?} sigma2={sigma2}: lower {} vs {}",
                mi.i_xt_lower,
                lower / LN_2
            );
        }
    }
    // Sanity of the closed form itself: tiny noise resolves all 4096 inputs (12 bits).
    assert!((twelve_bit_closed_form(1e-3).0 / LN_2 - 12.0).abs() < 1e-12);
}

/// All four estimates, I(T;Y) included, against the f64 double loop on the 12-bit set (N = 4096).
/// Rows r and s are the bits of r and s, so their squared distance is the Hamming distance
/// `popcount(r XOR s)`, used here instead of the coordinates (the closed-form test above covers the
/// path from coordinates). Same exactness argument; values near 0 get an absolute floor of 1e-12.
#[test]
fn twelve_bit_inputs_match_double_loop() {
    let y = common::twelve_bit_labels();
    let t = twelve_bit_tensor(&Device::Cpu);
    let hamming = |i: usize, j: usize| (i ^ j).count_ones() as f64;
    for sigma2 in [1e-3, 0.1, 1.0] {
        let want = naive_kde(hamming, &y, sigma2);
        let got = kde_mi(&t, &y, sigma2).unwrap();
        for (g, w) in values(&got).into_iter().zip(values(&want)) {
            assert!(
                (g - w).abs() <= 1e-10 * w.abs() + 1e-12,
                "sigma2={sigma2}: {got:?} vs {want:?}"
            );
        }
    }
    // With σ² = 1e-3 every input is resolved: I(T;Y) = H(Y) = 0.99916 bits (docs/references.md).
    let mi = kde_mi(&t, &y, 1e-3).unwrap();
    assert!((mi.i_ty_upper - 0.99916).abs() < 5e-6, "{mi:?}");
}

/// Random (non-exact) data against the f64 double loop. The only difference is the f32 distance
/// identity: a dot product of length d + 2 has absolute error at most (d + 2)·eps32·Σ|terms| ≤
/// (d + 2)·eps32·4·max‖t‖², which enters every exponent divided by s ≥ 2σ²; each F is a mean of
/// logs of sums whose terms all move by at most that factor, so |ΔF| ≤ δ and |ΔI(T;Y)| ≤ 2δ.
#[test]
fn random_data_matches_double_loop() {
    for (n, d, classes, seed) in [(600, 20, 3, 1u64), (257, 5, 10, 2), (64, 1, 2, 3)] {
        let (t, y) = random_data(n, d, classes, seed);
        let t64: Vec<f64> = t.iter().map(|&v| v as f64).collect();
        let tensor = Tensor::from_vec(t, (n, d), &Device::Cpu).unwrap();
        // Norms after centring, as the estimator sees them.
        let mean: Vec<f64> = (0..d)
            .map(|c| (0..n).map(|i| t64[i * d + c]).sum::<f64>() / n as f64)
            .collect();
        let max_norm = (0..n)
            .map(|i| {
                (0..d)
                    .map(|c| (t64[i * d + c] - mean[c]).powi(2))
                    .sum::<f64>()
            })
            .fold(0.0, f64::max);
        for sigma2 in [0.05, 0.5, 5.0] {
            let delta = (d + 2) as f64 * f32::EPSILON as f64 * 4.0 * max_norm / (2.0 * sigma2);
            let tol = 2.0 * delta / LN_2;
            let want = naive_kde(euclid2(&t64, d), &y, sigma2);
            let got = kde_mi(&tensor, &y, sigma2).unwrap();
            for (g, w) in values(&got).into_iter().zip(values(&want)) {
                assert!(
                    (g - w).abs() <= tol,
                    "n={n} d={d} sigma2={sigma2} tol={tol}: {got:?} vs {want:?}"
                );
            }
        }
    }
}

/// The vectorised CPU kernel (own `exp`, lane sums, class sums in the same pass) against the f64
/// double loop with libm's `exp`, N = 300, d = 7, 3 classes, within 1e-10 relative (1e-12
/// absolute near 0). The data make the f32 distance identity exact, so that only the kernel is
/// compared: values are multiples of 1/8 in [−1, 1] (every product and partial sum is a multiple
/// of 1/64 below 2¹⁰), and rows come in pairs `±x`, so the column means are exactly 0.
#[test]
fn fast_path_matches_f64_double_loop_on_exact_random_data() {
    let (n, d) = (300, 7);
    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    let half: Vec<f64> = (0..n / 2 * d)
        .map(|_| rng.random_range(-8i32..=8) as f64 / 8.0)
        .collect();
    let t64: Vec<f64> = half
        .iter()
        .copied()
        .chain(half.iter().map(|v| -v))
        .collect();
    let y: Vec<u32> = (0..n).map(|_| rng.random_range(0..3)).collect();
    let t32: Vec<f32> = t64.iter().map(|&v| v as f32).collect();
    let tensor = Tensor::from_vec(t32, (n, d), &Device::Cpu).unwrap();
    for sigma2 in [1e-3, 0.01, 0.1, 1.0, 10.0] {
        let want = naive_kde(euclid2(&t64, d), &y, sigma2);
        for chunk in [1, 37, n] {
            let got = kde_mi_chunked(&tensor, &y, sigma2, chunk).unwrap();
            for (g, w) in values(&got).into_iter().zip(values(&want)) {
                assert!(
                    (g - w).abs() <= 1e-10 * w.abs() + 1e-12,
                    "sigma2={sigma2} chunk={chunk}: {got:?} vs {want:?}"
                );
            }
        }
    }
}

/// Chunking only splits rows; each row's distances, sums and logs are computed the same way, so
/// the results agree to rounding of the final sums (1e-12 relative) for any chunk size.
#[test]
fn chunk_size_does_not_change_result() {
    let (t, y) = random_data(300, 17, 4, 9);
    let random = Tensor::from_vec(t, (300, 17), &Device::Cpu).unwrap();
    let twelve = twelve_bit_tensor(&Device::Cpu);
    let y12 = common::twelve_bit_labels();
    for device in devices() {
        for (tensor, y, sigma2) in [(&random, &y, 0.3), (&twelve, &y12, 0.1)] {
            let tensor = tensor.to_device(&device).unwrap();
            let n = y.len();
            let reference = values(&kde_mi_chunked(&tensor, y, sigma2, n).unwrap());
            for chunk in [1, 7, 1024, n, n + 5, usize::MAX] {
                let got = values(&kde_mi_chunked(&tensor, y, sigma2, chunk).unwrap());
                for (g, r) in got.into_iter().zip(reference) {
                    assert!(
                        (g - r).abs() <= 1e-12 * r.abs(),
                        "{device:?} n={n} chunk={chunk}: {got:?} vs {reference:?}"
                    );
                }
            }
        }
    }
}

/// Properties that hold for any data: F decreases as the kernel widens, so I_upper(X;T) >=
/// I_lower(X;T); 0 <= I(X;T) <= log2 N; I(T;Y) <= H(Y) <= log2(#classes) (each row's kernel sum
/// over all samples is at least its sum over its own class). I(T;Y) >= 0 and
/// i_ty_upper >= i_ty_lower are not theorems (see `i_ty_is_an_estimate_not_a_bound`) but hold on
/// these random data sets; a small slack covers f32 distance rounding between the two passes.
#[test]
fn bounds_and_ranges_on_random_data() {
    for seed in 0..12u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let n = rng.random_range(1..400usize);
        let d = rng.random_range(1..30usize);
        let classes = rng.random_range(1..6u32);
        let (t, y) = random_data(n, d, classes, 50 + seed);
        let h_y = common::naive_entropy(y.iter().copied());
        let tensor = Tensor::from_vec(t, (n, d), &Device::Cpu).unwrap();
        for sigma2 in [1e-4, 1e-2, 0.3, 3.0, 100.0] {
            let m = kde_mi(&tensor, &y, sigma2).unwrap();
            let ctx = format!("seed={seed} n={n} d={d} classes={classes} sigma2={sigma2}: {m:?}");
            assert!(m.i_xt_upper >= m.i_xt_lower, "{ctx}");
            for v in [m.i_xt_upper, m.i_xt_lower] {
                assert!((0.0..=(n as f64).log2() + 1e-12).contains(&v), "{ctx}");
            }
            for v in [m.i_ty_upper, m.i_ty_lower] {
                assert!(v >= -1e-9 && v <= h_y + 1e-6, "{ctx} H(Y)={h_y}");
                assert!(v <= (classes as f64).log2() + 1e-6, "{ctx}");
            }
            assert!(m.i_ty_upper >= m.i_ty_lower - 1e-9, "{ctx}");
        }
    }
}

/// Why the module docs call I(T;Y) an estimate: the Saxe et al. construction (upper entropy bound
/// minus upper conditional bound) can go negative and below the "lower" one. One class-A sample at
/// the origin, n = 100 class-B samples at the unit vectors e_k (d = 100): with q = e^{−1/s},
/// S_b = 1 + (n−1)q² + q over all samples, 1 + (n−1)q² over class B; S_a = 1 + nq, 1 over class A.
#[test]
fn i_ty_is_an_estimate_not_a_bound() {
    let n = 100usize;
    let total = n + 1;
    let mut t = vec![0.0f32; total * n];
    for k in 0..n {
        t[(k + 1) * n + k] = 1.0;
    }
    let mut y = vec![1u32; total];
    y[0] = 0;
    let sigma2 = 1.0 / (2.0 * 10f64.ln()); // q_upper = 0.1
    let closed = |s: f64| {
        let q = (-1.0 / s).exp();
        let nf = n as f64;
        let big_n = total as f64;
        let s_b = 1.0 + (nf - 1.0) * q * q;
        let f_all = -(nf * ((s_b + q) / big_n).ln() + ((1.0 + nf * q) / big_n).ln()) / big_n;
        let f_b = -(s_b / nf).ln();
        (f_all - nf / big_n * f_b) / LN_2
    };
    let m = kde_mi(
        &Tensor::from_vec(t, (total, n), &Device::Cpu).unwrap(),
        &y,
        sigma2,
    )
    .unwrap();
    let (upper, lower) = (closed(2.0 * sigma2), closed(8.0 * sigma2));
    assert!((m.i_ty_upper - upper).abs() < 1e-6, "{m:?} vs {upper}");
    assert!((m.i_ty_lower - lower).abs() < 1e-6, "{m:?} vs {lower}");
    assert!(
        upper < -0.02 && upper < lower,
        "upper {upper}, lower {lower}"
    );
}

/// Samples are flattened per row and converted to f32: a [N, 3, 4] tensor equals the [N, 12] one,
/// f64/f16 inputs with exactly representable values equal the f32 result, and a rank-1 tensor is
/// N samples of one value.
#[test]
fn shapes_and_dtypes() {
    let y = common::twelve_bit_labels();
    let t = twelve_bit_tensor(&Device::Cpu);
    let base = kde_mi(&t, &y, 0.1).unwrap();
    let reshaped = t.reshape((4096, 3, 4)).unwrap();
    assert_eq!(kde_mi(&reshaped, &y, 0.1).unwrap(), base);
    for dtype in [DType::F64, DType::F16, DType::BF16] {
        assert_eq!(kde_mi(&t.to_dtype(dtype).unwrap(), &y, 0.1).unwrap(), base);
    }
    // Non-contiguous input (a transposed view) is handled.
    let transposed = t.t().unwrap().contiguous().unwrap().t().unwrap();
    assert_eq!(kde_mi(&transposed, &y, 0.1).unwrap(), base);
    // Rank 1: two far-apart groups of two identical values, labels = group: I = 1 bit each.
    let t1 = Tensor::new(&[0.0f32, 0.0, 50.0, 50.0], &Device::Cpu).unwrap();
    let m = kde_mi(&t1, &[0, 0, 1, 1], 0.1).unwrap();
    for v in values(&m) {
        assert!((v - 1.0).abs() < 1e-12, "{m:?}");
    }
    // One sample: nothing to resolve.
    let one = Tensor::new(&[[3.0f32, 4.0]], &Device::Cpu).unwrap();
    assert_eq!(values(&kde_mi(&one, &[7], 0.1).unwrap()), [0.0; 4]);
}

#[test]
fn errors() {
    let cpu = Device::Cpu;
    let t = Tensor::new(&[[0.0f32, 1.0], [2.0, 3.0], [4.0, 5.0]], &cpu).unwrap();
    let y = [0u32, 1, 0];
    assert!(kde_mi(&t, &y, 0.1).is_ok());
    for sigma2 in [0.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let e = kde_mi(&t, &y, sigma2).unwrap_err();
        assert!(
            matches!(e, Error::InvalidParameter { what: "sigma2", .. }),
            "{e}"
        );
    }
    let e = kde_mi(&t, &y[..2], 0.1).unwrap_err();
    assert!(
        matches!(
            e,
            Error::LengthMismatch {
                what: "y",
                expected: 3,
                got: 2
            }
        ),
        "{e}"
    );
    let e = kde_mi_chunked(&t, &y, 0.1, 0).unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidParameter {
                what: "chunk_rows",
                ..
            }
        ),
        "{e}"
    );
    let empty = Tensor::zeros((0, 4), DType::F32, &cpu).unwrap();
    let e = kde_mi(&empty, &[], 0.1).unwrap_err();
    common::assert_zero_dimension(&e, "n");
    let no_values = Tensor::zeros((3, 0), DType::F32, &cpu).unwrap();
    let e = kde_mi(&no_values, &y, 0.1).unwrap_err();
    common::assert_zero_dimension(&e, "d");
    let scalar = Tensor::new(1.0f32, &cpu).unwrap();
    let e = kde_mi(&scalar, &[0], 0.1).unwrap_err();
    assert!(matches!(e, Error::InvalidShape { .. }), "{e}");
    let ints = Tensor::new(&[[1u32, 2], [3, 4], [5, 6]], &cpu).unwrap();
    let e = kde_mi(&ints, &y, 0.1).unwrap_err();
    assert!(matches!(e, Error::UnsupportedDtype(DType::U32)), "{e}");
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e20] {
        let data = [0.0f32, 1.0, 2.0, 3.0, 4.0, bad];
        let t = Tensor::from_vec(data.to_vec(), (3, 2), &cpu).unwrap();
        let e = kde_mi(&t, &y, 0.1).unwrap_err();
        assert!(
            matches!(e, Error::NonFinite { what: "t", row: 2 }),
            "{bad}: {e}"
        );
        assert!(e.to_string().contains("row 2"));
    }
}
