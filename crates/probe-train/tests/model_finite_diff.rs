//! Finite-difference checks of the building blocks' gradients, in f64: for a fixed random weighting
//! R, the autograd gradient of `L = Σ f(inputs)·R` with respect to every element of every input is
//! compared with the central difference `(L(θ + h) − L(θ − h)) / 2h`, h = 1e-6.
//!
//! In f64 the central difference's error is about h²·|L'''| + ε·|L|/h ≈ 1e-10, so the tolerance
//! `|fd − grad| ≤ 1e-7 + 1e-6·|grad|` leaves three orders of magnitude of headroom while a wrong
//! backward (a missing factor, a transposed index) misses by O(|grad|). Forward passes are checked
//! against an independent implementation where one exists (candle's own conv2d, fused layer norm
//! and softmax, which are correct forward but have no usable backward).

use candle_core::{DType, Device, Tensor, Var};
use probe_train::model::layers::attention::{softmax_last, Attention};
use probe_train::model::layers::conv::conv2d;
use probe_train::model::layers::norm::{layer_norm, BatchNorm};
use probe_train::model::layers::param::ParamInit;
use probe_train::model::layers::pool::{pool2d, PoolType};
use probe_train::model::layers::recurrent::{gru_step, lstm_step};
use probe_train::model::layers::Hooks;
use probe_train::model::Init;
use probe_train::rng::{self, Stream};

mod common;
use common::grad_f32;

const H: f64 = 1e-6;

/// Uniform values in ±1, f64, from a seeded stream.
fn rand(shape: &[usize], seed: u64) -> Tensor {
    let mut r = rng::stream(seed, Stream::Init);
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|_| rng::uniform(&mut r, 1.0)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

fn scalar(t: &Tensor) -> f64 {
    t.to_scalar::<f64>().unwrap()
}

/// Checks the gradient of `Σ f(vars)·R` with respect to every var against central differences.
fn check_grads(what: &str, vars: &[Var], f: &dyn Fn() -> Tensor) {
    let r = rand(f().dims(), 999);
    let loss = || scalar(&(f() * &r).unwrap().sum_all().unwrap());
    let grads = (f() * &r).unwrap().sum_all().unwrap().backward().unwrap();
    let mut checked = 0;
    for (i, var) in vars.iter().enumerate() {
        let g: Vec<f64> = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("{what}: input {i} has no gradient"))
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let base: Vec<f64> = var.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        let shape = var.as_tensor().shape().clone();
        for j in 0..base.len() {
            let mut v = base.clone();
            v[j] = base[j] + H;
            var.set(&Tensor::from_vec(v.clone(), &shape, &Device::Cpu).unwrap())
                .unwrap();
            let up = loss();
            v[j] = base[j] - H;
            var.set(&Tensor::from_vec(v, &shape, &Device::Cpu).unwrap())
                .unwrap();
            let down = loss();
            let fd = (up - down) / (2.0 * H);
            assert!(
                (fd - g[j]).abs() <= 1e-7 + 1e-6 * g[j].abs(),
                "{what}: input {i} element {j}: autograd {} vs finite difference {fd}",
                g[j]
            );
            checked += 1;
        }
        var.set(&Tensor::from_vec(base, &shape, &Device::Cpu).unwrap())
            .unwrap();
    }
    assert!(checked > 0);
}

fn var(shape: &[usize], seed: u64) -> Var {
    Var::from_tensor(&rand(shape, seed)).unwrap()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.dims(), b.dims());
    scalar(&(a - b).unwrap().abs().unwrap().max_all().unwrap())
}

#[test]
fn conv2d_forward_matches_candle_for_many_geometries() {
    // (C, O, H, W, k, stride, pad), non-square maps so a swapped axis shows.
    for (c, o, h, w, k, s, p) in [
        (1, 3, 7, 6, 3, 1, 1),
        (2, 3, 7, 6, 3, 2, 0),
        (2, 4, 8, 5, 2, 2, 1),
        (3, 2, 5, 9, 1, 1, 0),
        (2, 2, 6, 6, 5, 1, 2),
        (1, 2, 4, 4, 3, 3, 2),
    ] {
        let x = rand(&[2, c, h, w], 1);
        let wt = rand(&[o, c, k, k], 2);
        let ours = conv2d(&x, &wt, s, p).unwrap();
        let theirs = x.conv2d(&wt, p, s, 1, 1).unwrap();
        let d = max_abs_diff(&ours, &theirs);
        assert!(d < 1e-12, "conv {c}->{o} {h}x{w} k{k} s{s} p{p}: {d}");
    }
}

#[test]
fn conv2d_gradients_match_finite_differences() {
    for (c, o, h, w, k, s, p) in [(2, 3, 5, 4, 3, 1, 1), (2, 2, 6, 5, 2, 2, 1)] {
        let x = var(&[2, c, h, w], 3);
        let wt = var(&[o, c, k, k], 4);
        check_grads(
            &format!("conv2d k{k} s{s} p{p}"),
            &[x.clone(), wt.clone()],
            &|| conv2d(x.as_tensor(), wt.as_tensor(), s, p).unwrap(),
        );
    }
}

#[test]
fn layer_norm_matches_candle_forward_and_finite_differences() {
    let x = var(&[2, 3, 5], 5);
    let g = var(&[5], 6);
    let b = var(&[5], 7);
    // candle's fused layer norm runs in f32 only: compare there, at f32 precision.
    let f32s = |v: &Var| v.as_tensor().to_dtype(DType::F32).unwrap();
    let ours = layer_norm(&f32s(&x), &f32s(&g), &f32s(&b), 1e-5).unwrap();
    let fused = candle_nn::ops::layer_norm(&f32s(&x), &f32s(&g), &f32s(&b), 1e-5).unwrap();
    let d = scalar(
        &(ours - fused)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_dtype(DType::F64)
            .unwrap(),
    );
    assert!(d < 1e-5, "{d}");
    check_grads("layer_norm", &[x.clone(), g.clone(), b.clone()], &|| {
        layer_norm(x.as_tensor(), g.as_tensor(), b.as_tensor(), 1e-5).unwrap()
    });
}

#[test]
fn softmax_matches_candle_forward_and_finite_differences() {
    let x = var(&[2, 3, 4], 8);
    let fused = candle_nn::ops::softmax_last_dim(x.as_tensor()).unwrap();
    assert!(max_abs_diff(&softmax_last(x.as_tensor()).unwrap(), &fused) < 1e-15);
    check_grads("softmax", std::slice::from_ref(&x), &|| {
        softmax_last(x.as_tensor()).unwrap()
    });
}

#[test]
fn attention_gradients_match_finite_differences() {
    let mut r = rng::stream(11, Stream::Init);
    let mut p = ParamInit::new(&mut r, Init::Default, &Device::Cpu).with_dtype(DType::F64);
    let attn = Attention::new(&mut p, 6, 2).unwrap();
    let x = var(&[2, 4, 6], 12);
    let mut vars = vec![x.clone()];
    vars.extend(attn.named_vars("attn").into_iter().map(|(_, v)| v));
    assert_eq!(vars.len(), 9);
    check_grads("attention", &vars, &|| {
        attn.forward(x.as_tensor(), "attn", &mut Hooks::new(None))
            .unwrap()
    });
}

#[test]
fn lstm_and_gru_cells_match_finite_differences() {
    let (b, hd) = (3, 4);
    let gx = var(&[b, 4 * hd], 13);
    let h = var(&[b, hd], 14);
    let c = var(&[b, hd], 15);
    let w = var(&[4 * hd, hd], 16);
    let bias = var(&[4 * hd], 17);
    let vars = [gx.clone(), h.clone(), c.clone(), w.clone(), bias.clone()];
    let step = || {
        lstm_step(
            gx.as_tensor(),
            h.as_tensor(),
            c.as_tensor(),
            w.as_tensor(),
            bias.as_tensor(),
        )
        .unwrap()
    };
    check_grads("lstm h'", &vars, &|| step().0);
    check_grads("lstm c'", &vars, &|| step().1);
    let gx = var(&[b, 3 * hd], 18);
    let w = var(&[3 * hd, hd], 19);
    let bias = var(&[3 * hd], 20);
    check_grads(
        "gru",
        &[gx.clone(), h.clone(), w.clone(), bias.clone()],
        &|| {
            gru_step(
                gx.as_tensor(),
                h.as_tensor(),
                w.as_tensor(),
                bias.as_tensor(),
            )
            .unwrap()
        },
    );
}

#[test]
fn batch_norm_in_training_mode_matches_finite_differences() {
    let mut r = rng::stream(21, Stream::Init);
    let p = ParamInit::new(&mut r, Init::Default, &Device::Cpu).with_dtype(DType::F64);
    let bn = BatchNorm::new(&p, 3).unwrap();
    bn.weight.set(&rand(&[3], 22)).unwrap();
    bn.bias.set(&rand(&[3], 23)).unwrap();
    let x = var(&[4, 3, 2, 3], 24);
    check_grads(
        "batch norm 2d",
        &[x.clone(), bn.weight.clone(), bn.bias.clone()],
        &|| bn.forward(x.as_tensor(), true).unwrap(),
    );
    let x = var(&[5, 3], 25);
    check_grads("batch norm 1d", std::slice::from_ref(&x), &|| {
        bn.forward(x.as_tensor(), true).unwrap()
    });
}

#[test]
fn pooling_matches_finite_differences() {
    // 5×7 maps with a 2×2 window: the last row and column are dropped (PyTorch's floor mode);
    let x = var(&[2, 2, 5, 7], 26);
    // k = 3 keeps one row and two columns out (1×2 windows).
    for (k, out) in [(2, [2, 2, 2, 3]), (3, [2, 2, 1, 2])] {
        for kind in [PoolType::Max, PoolType::Avg] {
            let y = pool2d(x.as_tensor(), k, kind).unwrap();
            assert_eq!(y.dims(), &out);
            check_grads(
                &format!("{kind:?} pool k={k}"),
                std::slice::from_ref(&x),
                &|| pool2d(x.as_tensor(), k, kind).unwrap(),
            );
        }
    }
}

/// Regression: candle 0.11's `max_pool2d` backward returns 1/k² instead of 1 at each window's
/// maximum; ours must pass the whole gradient.
#[test]
fn max_pool_passes_the_whole_gradient_to_the_maximum() {
    let x =
        Var::from_tensor(&Tensor::new(&[[[[1f32, 2.], [3., 4.]]]], &Device::Cpu).unwrap()).unwrap();
    let g = pool2d(x.as_tensor(), 2, PoolType::Max)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    assert_eq!(grad_f32(&g, &x), vec![0.0, 0.0, 0.0, 1.0]);
}

/// `linear` adds its bias with probe's `AddBias` op on the CPU (backward: the gradient's row
/// sums). Values and all three gradients against the slow composition (`x·Wᵀ` then candle's
/// `broadcast_add`), then the gradients against finite differences, on 3-D input (rows folded).
#[test]
fn linear_bias_matches_the_composition_and_finite_differences() {
    use probe_train::model::layers::linear::linear;
    let x = var(&[3, 4, 5], 40);
    let w = var(&[6, 5], 41);
    let b = var(&[6], 42);
    let fast = || linear(x.as_tensor(), w.as_tensor(), Some(b.as_tensor())).unwrap();
    let slow = || {
        x.as_tensor()
            .broadcast_matmul(&w.as_tensor().t().unwrap())
            .unwrap()
            .broadcast_add(b.as_tensor())
            .unwrap()
    };
    let r = rand(&[3, 4, 6], 43);
    let (yf, ys) = (fast(), slow());
    assert!(max_abs_diff(&yf, &ys) < 1e-12);
    let gf = (yf * &r).unwrap().sum_all().unwrap().backward().unwrap();
    let gs = (ys * &r).unwrap().sum_all().unwrap().backward().unwrap();
    for (name, v) in [("x", &x), ("w", &w), ("b", &b)] {
        let (a, c) = (
            gf.get(v.as_tensor()).unwrap(),
            gs.get(v.as_tensor()).unwrap(),
        );
        let d = max_abs_diff(a, c);
        assert!(d < 1e-12, "gradient of {name}: max |Δ| = {d}");
    }
    check_grads(
        "linear with bias",
        &[x.clone(), w.clone(), b.clone()],
        &fast,
    );
}

#[test]
fn bias_relu_matches_the_composition_and_finite_differences() {
    // relu(y + b[o]) over a channel-major [O, B, H, W]; values ±1 keep every sum away from the
    // kink at 0 by more than h (checked), so the central differences are exact.
    use probe_train::model::layers::bias_relu::bias_relu_cm;
    let y = var(&[3, 2, 4, 5], 50);
    let b = var(&[3], 51);
    let fast = || bias_relu_cm(y.as_tensor(), b.as_tensor()).unwrap();
    let slow = || {
        y.as_tensor()
            .broadcast_add(&b.as_tensor().reshape((3, 1, 1, 1)).unwrap())
            .unwrap()
            .relu()
            .unwrap()
    };
    let sums = slow_sums(&y, &b);
    assert!(sums.iter().all(|s| s.abs() > 1e-4), "a sum near the kink");
    let r = rand(&[3, 2, 4, 5], 52);
    let (yf, ys) = (fast(), slow());
    assert_eq!(max_abs_diff(&yf, &ys), 0.0);
    let gf = (yf * &r).unwrap().sum_all().unwrap().backward().unwrap();
    let gs = (ys * &r).unwrap().sum_all().unwrap().backward().unwrap();
    for (name, v) in [("y", &y), ("b", &b)] {
        let (a, c) = (
            gf.get(v.as_tensor()).unwrap(),
            gs.get(v.as_tensor()).unwrap(),
        );
        let d = max_abs_diff(a, c);
        assert!(d < 1e-12, "gradient of {name}: max |Δ| = {d}");
    }
    check_grads("bias + relu", &[y.clone(), b.clone()], &fast);
}

/// `y + b[o]` of a channel-major `y [3, …]`, flattened.
fn slow_sums(y: &Var, b: &Var) -> Vec<f64> {
    let s = y
        .as_tensor()
        .broadcast_add(&b.as_tensor().reshape((3, 1, 1, 1)).unwrap())
        .unwrap();
    s.flatten_all().unwrap().to_vec1().unwrap()
}
