//! The CPU row ops (`model::layers::rowwise`: softmax over the last dimension, layer norm) against
//! the candle compositions they replace (`attention::softmax_last_composed`,
//! `norm::layer_norm_composed`), in f32 and f64, on rows wide and narrow, with large values (a
//! softmax that saturates) and a constant row (layer norm's variance 0, only ε):
//!
//! - values agree to `tol` (f64: 1e-14, f32: 1e-6; the ops sum the same terms, candle's
//!   reductions may order them differently and layer norm's composition divides by a broadcast);
//! - gradients of `Σ out·R` with respect to every input agree to `tol` of the largest.
//!
//! The forward is also checked against candle's own fused ops and the gradients against central
//! differences in `model_finite_diff.rs`, which runs these ops (CPU f64).

use candle_core::{DType, Device, Tensor, Var};
use probe_train::model::layers::attention::{softmax_last, softmax_last_composed};
use probe_train::model::layers::gelu::gelu_erf;
use probe_train::model::layers::norm::{layer_norm, layer_norm_composed};
use probe_train::model::layers::relu::relu;
use probe_train::rng::{self, Stream};

fn var(shape: &[usize], seed: u64, scale: f64, dtype: DType) -> Var {
    let mut r = rng::stream(seed, Stream::Init);
    let n: usize = shape.iter().product();
    let mut v: Vec<f64> = (0..n).map(|_| rng::uniform(&mut r, scale)).collect();
    // The first row constant: layer norm's variance is 0 there.
    let w = shape[shape.len() - 1];
    v[..w].fill(0.25);
    let t = Tensor::from_vec(v, shape, &Device::Cpu).unwrap();
    Var::from_tensor(&t.to_dtype(dtype).unwrap()).unwrap()
}

fn values(t: &Tensor) -> Vec<f64> {
    let t = t.to_dtype(DType::F64).unwrap();
    t.flatten_all().unwrap().to_vec1().unwrap()
}

fn grads(out: &Tensor, vars: &[&Var]) -> Vec<Vec<f64>> {
    let r = var(out.dims(), 555, 1.0, out.dtype());
    let loss = (out * r.as_tensor()).unwrap().sum_all().unwrap();
    let g = loss.backward().unwrap();
    let grad = |v: &Var| values(g.get(v.as_tensor()).expect("every input has a gradient"));
    vars.iter().map(|v| grad(v)).collect()
}

fn close(what: &str, a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let top = b.iter().fold(1f64, |m, x| m.max(x.abs()));
    for (j, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * top, "{what}[{j}]: {x} vs {y}");
    }
}

fn check(what: &str, op: &Tensor, composed: &Tensor, vars: &[&Var], tol: f64) {
    assert_eq!(op.dims(), composed.dims(), "{what}: shape");
    close(what, &values(op), &values(composed), tol);
    for (i, (a, b)) in grads(op, vars)
        .iter()
        .zip(grads(composed, vars))
        .enumerate()
    {
        assert!(
            b.iter().any(|&x| x != 0.0),
            "{what}: input {i} has a zero gradient"
        );
        close(&format!("{what}: d/d input {i}"), a, &b, tol);
    }
}

#[test]
fn softmax_equals_the_composition() {
    for (dtype, tol) in [(DType::F64, 1e-14), (DType::F32, 1e-6)] {
        for (shape, scale) in [
            (vec![3, 4, 17], 3.0),
            (vec![5, 2], 1.0),
            (vec![4, 64], 40.0),
        ] {
            let x = var(&shape, 1, scale, dtype);
            let what = format!("softmax {dtype:?} {shape:?} ±{scale}");
            let op = softmax_last(x.as_tensor()).unwrap();
            let composed = softmax_last_composed(x.as_tensor()).unwrap();
            check(&what, &op, &composed, &[&x], tol);
        }
    }
}

#[test]
fn layer_norm_equals_the_composition() {
    for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 2e-5)] {
        for shape in [vec![2, 5, 16], vec![6, 3], vec![4, 128]] {
            let d = shape[shape.len() - 1];
            let x = var(&shape, 2, 2.0, dtype);
            let g = var(&[d], 3, 1.0, dtype);
            let b = var(&[d], 4, 1.0, dtype);
            let what = format!("layer norm {dtype:?} {shape:?}");
            let (xt, gt, bt) = (x.as_tensor(), g.as_tensor(), b.as_tensor());
            let op = layer_norm(xt, gt, bt, 1e-5).unwrap();
            let composed = layer_norm_composed(xt, gt, bt, 1e-5).unwrap();
            check(&what, &op, &composed, &[&x, &g, &b], tol);
        }
    }
}

/// The bits of `v` with `−0.0` read as `+0.0`. Gradients are compared this way: the sign of a
/// zero gradient depends on how candle's backprop stored it (the patched `candle-core` keeps a
/// node's first gradient as it is, so `−0.0` survives where adding it to zeros gave `+0.0`;
/// vendor/README.md), and no update rule turns it into a different parameter.
fn zero_signless_bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|&x| (x + 0.0).to_bits()).collect()
}

#[test]
fn relu_equals_candles_to_the_bit() {
    // Values, zeros and NaN included, and gradients: the same products as candle's backward.
    for dtype in [DType::F64, DType::F32] {
        let x = var(&[7, 33], 6, 2.0, dtype);
        let mut v = values(x.as_tensor());
        v[40] = 0.0;
        v[41] = -0.0;
        v[42] = f64::NAN;
        let t = Tensor::from_vec(v, (7, 33), &Device::Cpu).unwrap();
        let x = Var::from_tensor(&t.to_dtype(dtype).unwrap()).unwrap();
        let (ours, candle) = (relu(x.as_tensor()).unwrap(), x.as_tensor().relu().unwrap());
        let bits = |t: &Tensor| values(t).iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&ours), bits(&candle), "relu {dtype:?} values");
        let (a, b) = (grads(&ours, &[&x]), grads(&candle, &[&x]));
        assert_eq!(
            zero_signless_bits(&a[0]),
            zero_signless_bits(&b[0]),
            "relu {dtype:?} gradients"
        );
        assert!(a[0].iter().any(|&g| g != 0.0) && a[0].contains(&0.0));
    }
}

#[test]
fn gelu_equals_candles_to_the_bit_in_f64_and_to_rounding_in_f32() {
    // f64: the CPU op computes candle's forward and candle's backward op by op, the same bits.
    // f32: its own Φ and φ (within 1 ulp of the exact values, `layers::normal`), so it agrees
    // with candle's `erff`-based op to candle's rounding (and candle's `0.398942` for 1/√(2π) in
    // the gradient). On values large and small (saturated tails), zeros of both signs included,
    // and on 300 × 130 values (split over rayon's pool when it has several threads).
    for dtype in [DType::F64, DType::F32] {
        for (shape, scale) in [(vec![7, 33], 6.0), (vec![300, 130], 3.0)] {
            let x = var(&shape, 7, scale, dtype);
            let mut v = values(x.as_tensor());
            v[40] = 0.0;
            v[41] = -0.0;
            let t = Tensor::from_vec(v.clone(), shape.as_slice(), &Device::Cpu).unwrap();
            let x = Var::from_tensor(&t.to_dtype(dtype).unwrap()).unwrap();
            let ours = gelu_erf(x.as_tensor()).unwrap();
            let candle = x.as_tensor().gelu_erf().unwrap();
            let (a, b) = (grads(&ours, &[&x]), grads(&candle, &[&x]));
            if dtype == DType::F64 {
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                let (o, c) = (values(&ours), values(&candle));
                assert_eq!(bits(&o), bits(&c), "gelu {shape:?} values");
                assert_eq!(bits(&a[0]), bits(&b[0]), "gelu {shape:?} gradients");
            } else {
                let (o, c) = (values(&ours), values(&candle));
                for (i, &x) in v.iter().enumerate() {
                    let tol = 4e-7 * x.abs().max(1.0);
                    assert!((o[i] - c[i]).abs() <= tol, "gelu({x}) {} vs {}", o[i], c[i]);
                    let d = (a[0][i] - b[0][i]).abs();
                    assert!(d <= 2e-6, "gelu'({x}) {} vs {}", a[0][i], b[0][i]);
                }
            }
            assert!(a[0].iter().any(|&g| g != 0.0));
        }
    }
}

#[test]
fn bias_relu_equals_the_composition_in_f32() {
    // The CNN's case: f32, a channel-major [O, B, H, W] large enough to be split over threads.
    // Values and the input's gradient are bit-identical to broadcast_add + relu (the same sums,
    // the same products); the bias gradient sums the rows in another order: to rounding.
    use probe_train::model::layers::bias_relu::bias_relu_cm;
    let y = var(&[16, 8, 14, 14], 8, 1.0, DType::F32);
    let b = var(&[16], 9, 1.0, DType::F32);
    let ours = bias_relu_cm(y.as_tensor(), b.as_tensor()).unwrap();
    let composed = y
        .as_tensor()
        .broadcast_add(&b.as_tensor().reshape((16, 1, 1, 1)).unwrap())
        .unwrap()
        .relu()
        .unwrap();
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&values(&ours)), bits(&values(&composed)), "values");
    let (a, c) = (grads(&ours, &[&y, &b]), grads(&composed, &[&y, &b]));
    assert_eq!(zero_signless_bits(&a[0]), zero_signless_bits(&c[0]), "d y");
    close("d b", &a[1], &c[1], 1e-5);
}
