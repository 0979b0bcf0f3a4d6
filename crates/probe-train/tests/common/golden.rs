//! Golden fixtures made by PyTorch scripts (`scripts/golden_models.py`, `scripts/golden_vib.py`):
//! loading them and comparing tensors with a stated tolerance.
//!
//! Tolerance of [`close`]: `max |probe − torch| ≤ 2e-5 · max(1, max |torch|)` per tensor. Both
//! sides compute in f32 (ε ≈ 1.2e-7) with different summation orders over at most a few hundred
//! terms, so honest differences stay around 1e-6 of the tensor's scale; a wrong formula, gate
//! order, transpose or normalisation gives differences of the order of the values themselves.

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};

/// The relative tolerance of [`close`].
pub const RTOL: f64 = 2e-5;

/// The path and tensors of `tests/fixtures/golden_{name}.safetensors`.
pub fn fixture(name: &str) -> (PathBuf, HashMap<String, Tensor>) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("golden_{name}.safetensors"));
    let t = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    (path, t)
}

/// The `spec` metadata the script wrote: the architecture as Python's `json.dumps` spelled it.
pub fn fixture_spec(path: &PathBuf) -> String {
    let bytes = std::fs::read(path).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    header
        .metadata()
        .as_ref()
        .and_then(|m| m.get("spec").cloned())
        .unwrap_or_else(|| panic!("{}: no spec metadata", path.display()))
}

/// Asserts that `a` (probe) and `b` (torch) have one shape and agree within [`RTOL`] of `b`'s
/// scale.
pub fn close(what: &str, a: &Tensor, b: &Tensor) {
    assert_eq!(a.dims(), b.dims(), "{what}: shape");
    let a = a.to_dtype(DType::F64).unwrap();
    let b = b.to_dtype(DType::F64).unwrap();
    let diff: f64 = (&a - &b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar()
        .unwrap();
    let scale: f64 = b.abs().unwrap().max_all().unwrap().to_scalar().unwrap();
    let bound = RTOL * scale.max(1.0);
    assert!(
        diff <= bound,
        "{what}: max |probe − torch| = {diff:e} > {bound:e} (torch scale {scale:e})"
    );
}
