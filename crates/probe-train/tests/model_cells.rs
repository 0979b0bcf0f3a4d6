//! The fused GRU and LSTM cells (`model::layers::cell`) against the composition of candle ops they
//! replace (`recurrent::{gru_step_composed, lstm_step_composed}`), on the CPU:
//!
//! - forward values within 1e-6 in f32 (the cells use the vectorised Cephes `tanh`, candle's
//!   composition the standard library's scalar one; both within an ulp or so of exact) and
//!   bit-identical in f64 (the same operations in the same order);
//! - gradients of `Σ out·R` with respect to every input (gates, state, recurrent weights and bias)
//!   equal to the composition's to rounding: the backward sums in another order, so the bound is
//!   a few ulps of the largest gradient (`1e-5` relative in f32, `1e-12` in f64), far below what a
//!   wrong factor or index would miss by;
//! - `gru_step` / `lstm_step` (which take the fused cells on the CPU) equal the same.
//!
//! The finite-difference checks of `lstm_step` and `gru_step` (`model_finite_diff.rs`) run the
//! fused cells too, since they use CPU f64 tensors.

use candle_core::{DType, Device, Tensor, Var};
use probe_train::model::layers::cell::{gru_cell, lstm_cell};
use probe_train::model::layers::linear::linear;
use probe_train::model::layers::recurrent::{
    gru_step, gru_step_composed, lstm_step, lstm_step_composed,
};
use probe_train::rng::{self, Stream};

/// Uniform values in ±`scale` (seeded), of `dtype`; wide enough that gates saturate in places.
fn var(shape: &[usize], seed: u64, scale: f64, dtype: DType) -> Var {
    let mut r = rng::stream(seed, Stream::Init);
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|_| rng::uniform(&mut r, scale)).collect();
    let t = Tensor::from_vec(v, shape, &Device::Cpu).unwrap();
    Var::from_tensor(&t.to_dtype(dtype).unwrap()).unwrap()
}

fn values(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// The gradients of `Σ out·R` (R fixed, seeded) with respect to `vars`.
fn grads(out: &Tensor, vars: &[Var]) -> Vec<Vec<f64>> {
    let r = var(out.dims(), 777, 1.0, out.dtype());
    let g = (out * r.as_tensor())
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    vars.iter()
        .map(|v| values(g.get(v.as_tensor()).expect("every input has a gradient")))
        .collect()
}

/// Fused and composed outputs agree to 1e-6 in f32 and bit for bit in f64; their gradients to
/// `rel` of the largest.
fn check(what: &str, fused: &[Tensor], composed: &[Tensor], vars: &[Var], rel: f64) {
    let f64_exact = fused[0].dtype() == DType::F64;
    for (k, (f, c)) in fused.iter().zip(composed).enumerate() {
        assert_eq!(f.dims(), c.dims(), "{what}: output {k} shape");
        let (fv, cv) = (values(f), values(c));
        for (j, (a, b)) in fv.iter().zip(&cv).enumerate() {
            match f64_exact {
                true => assert_eq!(
                    a.to_bits(),
                    b.to_bits(),
                    "{what}: output {k}[{j}]: {a} vs {b}"
                ),
                false => assert!((a - b).abs() <= 1e-6, "{what}: output {k}[{j}]: {a} vs {b}"),
            }
        }
        let (gf, gc) = (grads(f, vars), grads(c, vars));
        for (i, (a, b)) in gf.iter().zip(&gc).enumerate() {
            let top = b.iter().fold(0f64, |m, x| m.max(x.abs()));
            assert!(
                top > 0.0,
                "{what}: output {k}: input {i} has a zero gradient"
            );
            for (j, (x, y)) in a.iter().zip(b).enumerate() {
                assert!(
                    (x - y).abs() <= rel * top,
                    "{what}: output {k}: d/d input {i}[{j}]: fused {x} vs composed {y} (largest {top})"
                );
            }
        }
    }
}

fn gru(dtype: DType, rel: f64) {
    let (b, hd) = (5, 7);
    let gx = var(&[b, 3 * hd], 1, 3.0, dtype);
    let h = var(&[b, hd], 2, 1.0, dtype);
    let w = var(&[3 * hd, hd], 3, 1.0, dtype);
    let bias = var(&[3 * hd], 4, 1.0, dtype);
    let vars = [gx.clone(), h.clone(), w.clone(), bias.clone()];
    let t = |v: &Var| v.as_tensor().clone();
    let composed = gru_step_composed(&t(&gx), &t(&h), &t(&w), &t(&bias)).unwrap();
    let gh = linear(&t(&h), &t(&w), Some(&t(&bias))).unwrap();
    let op = gru_cell(&t(&gx), &gh, &t(&h)).unwrap();
    check(
        &format!("gru cell {dtype:?}"),
        &[op],
        std::slice::from_ref(&composed),
        &vars,
        rel,
    );
    let step = gru_step(&t(&gx), &t(&h), &t(&w), &t(&bias)).unwrap();
    check(
        &format!("gru step {dtype:?}"),
        &[step],
        &[composed],
        &vars,
        rel,
    );
}

fn lstm(dtype: DType, rel: f64) {
    let (b, hd) = (5, 7);
    let gx = var(&[b, 4 * hd], 5, 3.0, dtype);
    let h = var(&[b, hd], 6, 1.0, dtype);
    let c = var(&[b, hd], 7, 2.0, dtype);
    let w = var(&[4 * hd, hd], 8, 1.0, dtype);
    let bias = var(&[4 * hd], 9, 1.0, dtype);
    let vars = [gx.clone(), h.clone(), c.clone(), w.clone(), bias.clone()];
    let t = |v: &Var| v.as_tensor().clone();
    let (h2, c2) = lstm_step_composed(&t(&gx), &t(&h), &t(&c), &t(&w), &t(&bias)).unwrap();
    let gates = (t(&gx) + linear(&t(&h), &t(&w), Some(&t(&bias))).unwrap()).unwrap();
    let (h1, c1) = lstm_cell(&gates, &t(&c)).unwrap();
    let want = [h2, c2];
    check(
        &format!("lstm cell {dtype:?}"),
        &[h1, c1],
        &want,
        &vars,
        rel,
    );
    let (h1, c1) = lstm_step(&t(&gx), &t(&h), &t(&c), &t(&w), &t(&bias)).unwrap();
    check(
        &format!("lstm step {dtype:?}"),
        &[h1, c1],
        &want,
        &vars,
        rel,
    );
}

#[test]
fn the_fused_gru_cell_equals_the_composition_in_f32_and_f64() {
    gru(DType::F32, 1e-5);
    gru(DType::F64, 1e-12);
}

#[test]
fn the_fused_lstm_cell_equals_the_composition_in_f32_and_f64() {
    lstm(DType::F32, 1e-5);
    lstm(DType::F64, 1e-12);
}

#[test]
fn a_non_contiguous_state_is_read_correctly() {
    // The cells read contiguous rows; a transposed state must be copied first, not misread.
    let (b, hd) = (3, 4);
    let gx = var(&[b, 3 * hd], 10, 2.0, DType::F32);
    let gh = var(&[b, 3 * hd], 11, 2.0, DType::F32);
    let h = var(&[hd, b], 13, 1.0, DType::F32).as_tensor().t().unwrap();
    assert!(!h.is_contiguous());
    let a = gru_cell(gx.as_tensor(), gh.as_tensor(), &h).unwrap();
    let c = gru_cell(gx.as_tensor(), gh.as_tensor(), &h.contiguous().unwrap()).unwrap();
    assert_eq!(values(&a), values(&c));
    let gates = var(&[b, 4 * hd], 14, 2.0, DType::F32);
    let (h1, c1) = lstm_cell(gates.as_tensor(), &h).unwrap();
    let (h2, c2) = lstm_cell(gates.as_tensor(), &h.contiguous().unwrap()).unwrap();
    assert_eq!((values(&h1), values(&c1)), (values(&h2), values(&c2)));
}
