//! Helpers of probe-train's tests: golden fixtures ([`golden`]), model specs ([`specs`]), scratch
//! directories ([`scratch`]), assertions on errors ([`assert_err!`], [`assert_mentions`]) and
//! explicit skips. A test that cannot run on this machine (a data set that is not installed)
//! calls [`skip`] and returns. The harness has no skip counter, so the skip
//! is printed (`SKIPPED: …` on stderr, shown with `--nocapture`) and, when `PROBE_SKIPPED_LOG`
//! names a file, appended there as one line; `.ci/run` sets it, counts the lines and prints them.

#![allow(dead_code)] // each test binary uses its own subset

pub mod golden;
pub mod scratch;
pub mod specs;

use std::io::Write;

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};

/// Records that `test` was skipped because of `why` (say what is missing and how to get it).
pub fn skip(test: &str, why: &str) {
    let line = format!("SKIPPED: {}: {test}: {why}", env!("CARGO_PKG_NAME"));
    eprintln!("{line}");
    if let Some(path) = std::env::var_os("PROBE_SKIPPED_LOG") {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path);
        // One write of the whole line: parallel test processes append without interleaving.
        if let Err(e) = file.and_then(|mut f| f.write_all(format!("{line}\n").as_bytes())) {
            panic!("cannot append to PROBE_SKIPPED_LOG {path:?}: {e}");
        }
    }
}

/// Asserts that `err` matches the pattern, showing the error if not.
#[allow(unused_macros)] // each test binary uses its own subset
macro_rules! assert_err {
    ($err:expr, $pattern:pat) => {
        assert!(matches!($err, $pattern), "{:?}", $err)
    };
}
#[allow(unused_imports)] // each test binary uses its own subset
pub(crate) use assert_err;

/// Asserts that the message of `err` (an error, or the message itself) mentions each of
/// `parts` (a file name, a key, a value), showing the message if not.
#[track_caller]
pub fn assert_mentions(err: &impl std::fmt::Display, parts: &[&str]) {
    let msg = err.to_string();
    for part in parts {
        assert!(msg.contains(part), "{part:?} not in {msg}");
    }
}

/// Deterministic inputs `[n, d]` in `[lo, hi)`: the golden-ratio sequence `frac(i·0.618…)`, so a
/// test's numbers (and its margins) are the same on every run, unlike an unseeded `Tensor::rand`.
pub fn inputs(n: usize, d: usize, lo: f32, hi: f32) -> Tensor {
    let v: Vec<f32> = (0..n * d)
        .map(|i| lo + (hi - lo) * (i as f64 * 0.618_033_988_749_895).fract() as f32)
        .collect();
    Tensor::from_vec(v, (n, d), &Device::Cpu).unwrap()
}

/// The bit patterns of `t`'s f32 values in row-major order, to compare tensors bit for bit.
pub fn bits(t: &Tensor) -> Vec<u32> {
    t.flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
        .iter()
        .map(|v| v.to_bits())
        .collect()
}

/// The gradient of `v` in `grads` as a flat f32 vector (panics if `v` got none).
pub fn grad_f32(grads: &GradStore, v: &Var) -> Vec<f32> {
    grads
        .get(v.as_tensor())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// `max |a − b|` over all elements of two f32 tensors of the same shape.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar()
        .unwrap()
}

/// Checks `m`'s gradients of the mean cross-entropy on `(x, y)` against central differences: for
/// each parameter tensor `w` with gradient `g`, the loss is evaluated at `w ± h·g/|g|` and
/// `(L₊ − L₋) / 2h` must equal `|g|`, the derivative along `g`'s own direction (a gradient that is
/// zero, missing, mis-scaled or pointing elsewhere fails). A model with dropout gets the same
/// masks at every evaluation: its stream is rewound (`Model::restore_stream_state`) before each.
///
/// Tolerance: the models compute in f32, so the loss (~1) moves in steps of ~1.2e-7 and the
/// difference quotient with h = 1e-3 in steps of ~6e-5; ReLU and max-pool kinks crossed by the
/// step bend it by a few per cent at most. Hence `|fd − |g|| ≤ 0.03·|g| + 3e-4`: on the inputs of
/// [`inputs`] the worst case of probe-train's tests uses a third of that, while a wrong gradient is
/// off by far more (a tanh derivative of 1 − 0.9·tanh² fails by ~10 %).
pub fn check_gradients(what: &str, m: &dyn probe_train::model::Model, x: &Tensor, y: &Tensor) {
    let stream = m.stream_state().unwrap();
    let loss = || {
        if let Some(s) = &stream {
            m.restore_stream_state(s).unwrap();
        }
        candle_nn::loss::cross_entropy(&m.forward(x, None).unwrap(), y).unwrap()
    };
    let value = |t: Tensor| t.to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap();
    let grads = loss().backward().unwrap();
    let vars = m.named_vars();
    assert!(!vars.is_empty(), "{what}: no parameters");
    let h = 1e-3;
    for (name, v) in vars {
        let g = grads
            .get(v.as_tensor())
            .unwrap_or_else(|| panic!("{what}: no gradient for {name}"));
        let norm = value(g.sqr().unwrap().sum_all().unwrap()).sqrt();
        assert!(norm > 0.0, "{what}: zero gradient for {name}");
        let step = (g * (h / norm)).unwrap();
        let w = v.as_tensor().copy().unwrap();
        v.set(&(&w + &step).unwrap()).unwrap();
        let plus = value(loss());
        v.set(&(&w - &step).unwrap()).unwrap();
        let minus = value(loss());
        v.set(&w).unwrap();
        let fd = (plus - minus) / (2.0 * h);
        assert!(
            (fd - norm).abs() <= 0.03 * norm + 3e-4,
            "{what}: {name}: |gradient| {norm:e}, central difference along it {fd:e}"
        );
    }
}
