//! Layer-to-layer information: binned flows on the 12-bit inputs (exact values from counting),
//! against the definition on random layers, KDE flows against closed forms on the 12-bit cube, and
//! the bottleneck choice.

mod common;

use std::f64::consts::LN_2;

use candle_core::{Device, Tensor};
use probe_estimators::flow::kde_joint_entropy;
use probe_estimators::{
    adaptive_edges, binned_flow, binned_flow_tensor, bottleneck, kde_entropy, kde_flow, kde_mi,
    Binning, Error, KdeFlow,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const FIXED: Binning = Binning::DEFAULT_FIXED;

/// Columns `cols` of the `[4096, 12]` 12-bit inputs, row-major.
fn bits(cols: std::ops::Range<usize>) -> Vec<f32> {
    let x = common::twelve_bit_inputs();
    x.chunks(12)
        .flat_map(|r| r[cols.clone()].to_vec())
        .collect()
}

/// On the 12-bit cube every quantity is a count: X → X keeps all 12 bits; X → its first 6 bits
/// keeps 6 and loses 6; two disjoint halves of the bits are independent (I = 0, loss = H = 6).
#[test]
fn binned_flow_on_the_twelve_bit_cube() {
    let n = 4096;
    let (x, lo, hi) = (bits(0..12), bits(0..6), bits(6..12));
    for binning in [
        FIXED,
        Binning::Floor { width: 0.5 },
        Binning::Adaptive { bins: 30 },
    ] {
        let same = binned_flow(&x, 12, &x, 12, n, &binning).unwrap();
        assert_eq!(
            (same.i_bits, same.h_from, same.h_to, same.loss()),
            (12.0, 12.0, 12.0, 0.0)
        );
        let part = binned_flow(&x, 12, &lo, 6, n, &binning).unwrap();
        assert_eq!(
            (part.i_bits, part.h_from, part.h_to, part.loss()),
            (6.0, 12.0, 6.0, 6.0)
        );
        let back = binned_flow(&lo, 6, &x, 12, n, &binning).unwrap();
        assert_eq!((back.i_bits, back.loss()), (6.0, 0.0));
        let indep = binned_flow(&lo, 6, &hi, 6, n, &binning).unwrap();
        assert_eq!((indep.i_bits, indep.loss()), (0.0, 6.0));
    }
}

fn tanh_layer(rng: &mut ChaCha8Rng, input: &[f32], d_in: usize, d_out: usize, w: f32) -> Vec<f32> {
    let weights: Vec<f32> = (0..d_in * d_out).map(|_| rng.random_range(-w..w)).collect();
    input
        .chunks(d_in)
        .flat_map(|row| {
            (0..d_out)
                .map(|o| {
                    let s: f32 = row
                        .iter()
                        .enumerate()
                        .map(|(i, v)| v * weights[i * d_out + o])
                        .sum();
                    s.tanh()
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Random tanh layers of the 12-bit inputs: the flow equals the definition
/// `H(A) + H(B) − H(A, B)` from a BTreeMap count (adaptive: each layer with its own edges), and
/// `0 ≤ I ≤ min(H(A), H(B)) ≤ log2 N`.
#[test]
fn binned_flow_matches_the_definition() {
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let x = common::twelve_bit_inputs();
    let n = 4096;
    let a = tanh_layer(&mut rng, &x, 12, 5, 1.5);
    let b = tanh_layer(&mut rng, &a, 5, 3, 3.0);
    for binning in [
        FIXED,
        Binning::Floor { width: 0.3 },
        Binning::Adaptive { bins: 8 },
    ] {
        let ids = |v: &[f32], d: usize| -> Vec<u32> {
            match binning {
                Binning::Fixed { lo, hi, edges } => {
                    common::naive_ids(v, d, |t| common::naive_fixed_bin(lo, hi, edges, t))
                }
                Binning::Floor { width } => {
                    common::naive_ids(v, d, |t| common::naive_floor_bin(width, t))
                }
                Binning::Adaptive { bins } => {
                    let e = adaptive_edges(v, bins).unwrap();
                    common::naive_ids(v, d, |t| e.iter().filter(|&&x| x <= t).count() as i64)
                }
            }
        };
        let (ia, ib) = (ids(&a, 5), ids(&b, 3));
        let h_a = common::naive_entropy(ia.iter().copied());
        let h_b = common::naive_entropy(ib.iter().copied());
        let h_ab = common::naive_entropy(ia.iter().zip(&ib).map(|(&p, &q)| (p, q)));
        let f = binned_flow(&a, 5, &b, 3, n, &binning).unwrap();
        assert!(
            (f.i_bits - (h_a + h_b - h_ab)).abs() < 1e-12,
            "{binning:?} {f:?}"
        );
        assert!((f.h_from - h_a).abs() < 1e-12 && (f.h_to - h_b).abs() < 1e-12);
        assert!((f.loss() - (h_ab - h_b)).abs() < 1e-12);
        assert!(
            f.i_bits > 0.1 && f.i_bits <= h_a.min(h_b) + 1e-12,
            "{binning:?} {f:?}"
        );
        assert!(h_a <= 12.0 && f.loss() >= 0.0);
        let ta = Tensor::from_vec(a.clone(), (n, 5), &Device::Cpu).unwrap();
        let tb = Tensor::from_vec(b.clone(), (n, 1, 3), &Device::Cpu).unwrap();
        assert_eq!(binned_flow_tensor(&ta, &tb, &binning).unwrap(), f);
    }
    let ta = Tensor::from_vec(a, (n, 5), &Device::Cpu).unwrap();
    let short = Tensor::zeros((10, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
    let e = binned_flow_tensor(&ta, &short, &FIXED).unwrap_err();
    assert!(
        matches!(
            e,
            Error::LengthMismatch {
                expected: 4096,
                got: 10,
                ..
            }
        ),
        "{e}"
    );
}

/// `F(s) = ln 2^m − m·ln(1 + e^{−w/s})` nats for `m` bits each at squared distance weight `w`:
/// every row of the cube sees `Σ_j exp(−w·h_ij/s) = 2^{12−m} (1 + e^{−w/s})^m` over the 4096 rows.
fn cube_f(m: f64, w: f64, s: f64) -> f64 {
    m * 2f64.ln() - m * (-w / s).exp().ln_1p()
}

/// KDE flows on the 12-bit cube against closed forms: X → X (joint distances double, so
/// `I = 2F(s) − F_{w=2}(s)`), and two disjoint halves of the bits, whose kernels factorise over
/// the product grid so `F_AB = F_A + F_B` and `I = 0`. The f32 distances of 0/1 data are exact.
#[test]
fn kde_flow_on_the_twelve_bit_cube() {
    let n = 4096;
    let t = |v: Vec<f32>, d: usize| Tensor::from_vec(v, (n, d), &Device::Cpu).unwrap();
    let (x, lo, hi) = (t(bits(0..12), 12), t(bits(0..6), 6), t(bits(6..12), 6));
    for sigma2 in [0.05, 2.0] {
        let (su, sl) = (2.0 * sigma2, 8.0 * sigma2);
        let f = kde_flow(&x, &x, sigma2).unwrap();
        let want = |s: f64| (2.0 * cube_f(12.0, 1.0, s) - cube_f(12.0, 2.0, s)) / LN_2;
        assert!(
            (f.i_bits - want(su)).abs() < 1e-9,
            "{sigma2}: {f:?} vs {}",
            want(su)
        );
        assert!((f.i_bits_lower - want(sl)).abs() < 1e-9, "{f:?}");
        assert!((f.h_from.upper - cube_f(12.0, 1.0, su) / LN_2).abs() < 1e-9);
        assert!((f.loss() - (cube_f(12.0, 2.0, su) - cube_f(12.0, 1.0, su)) / LN_2).abs() < 1e-9);
        let g = kde_flow(&lo, &hi, sigma2).unwrap();
        assert!(
            g.i_bits.abs() < 1e-9 && g.i_bits_lower.abs() < 1e-9,
            "{g:?}"
        );
        assert!((g.h_from.upper - cube_f(6.0, 1.0, su) / LN_2).abs() < 1e-9);
        assert!((g.loss() - g.h_from.upper).abs() < 1e-9);
    }
}

/// What `probe` does: reuse each layer's `I(X;T)` KDE terms from `kde_mi` (computed the same way,
/// so equal to the bit) and add one joint pass. Also the range `I ≤ min(F_A, F_B) ≤ log2 N`.
#[test]
fn kde_flow_from_kde_mi_terms_is_the_same() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let n = 1024; // the first quarter of the cube keeps the test fast
    let x = &common::twelve_bit_inputs()[..n * 12];
    let a = tanh_layer(&mut rng, x, 12, 6, 1.0);
    let b = tanh_layer(&mut rng, &a, 6, 4, 2.0);
    let ta = Tensor::from_vec(a, (n, 6), &Device::Cpu).unwrap();
    let tb = Tensor::from_vec(b, (n, 4), &Device::Cpu).unwrap();
    let y = &common::twelve_bit_labels()[..n];
    for sigma2 in [1e-3, 0.1] {
        let (ma, mb) = (
            kde_mi(&ta, y, sigma2).unwrap(),
            kde_mi(&tb, y, sigma2).unwrap(),
        );
        let ea = kde_entropy(&ta, sigma2).unwrap();
        assert_eq!((ea.upper, ea.lower), (ma.i_xt_upper, ma.i_xt_lower));
        let direct = kde_flow(&ta, &tb, sigma2).unwrap();
        let joint = kde_joint_entropy(&ta, &tb, sigma2).unwrap();
        let reused = KdeFlow::from_entropies(
            probe_estimators::KdeEntropy {
                upper: ma.i_xt_upper,
                lower: ma.i_xt_lower,
            },
            probe_estimators::KdeEntropy {
                upper: mb.i_xt_upper,
                lower: mb.i_xt_lower,
            },
            joint,
            sigma2,
        );
        assert_eq!(direct, reused);
        let cap = direct.h_from.upper.min(direct.h_to.upper);
        assert!(
            direct.i_bits <= cap + 1e-9 && cap <= 10.0 + 1e-12,
            "{direct:?}"
        );
        assert!(direct.loss() >= -1e-9, "{direct:?}");
    }
}

#[test]
fn bottleneck_is_the_largest_loss() {
    assert_eq!(bottleneck(&[1.0, 3.0, 2.0]), Some(1));
    assert_eq!(bottleneck(&[2.0, 2.0]), Some(0), "first on ties");
    assert_eq!(bottleneck(&[f64::NAN, 0.5, f64::NAN]), Some(1));
    assert_eq!(bottleneck(&[f64::NAN]), None);
    assert_eq!(bottleneck(&[]), None);
}
