//! The native half of probe's Python package (`probe._probe`): information-plane measurements
//! on numpy arrays and probe's trainer, over the `probe-run` library.
//!
//! The Python package (`python/probe/`) is the public face: it turns mappings, torch tensors and
//! DLPack arrays into numpy arrays, and tables into pandas DataFrames. This crate reads the
//! arrays (C-contiguous float32 activations in place, [`layers`]; any other strides and every
//! dtype probe reads converted once, [`arrays`]), calls the library with the GIL released, and
//! maps errors to `ValueError` / `TypeError` / `OSError` / `RuntimeError` with probe's messages;
//! no panic reaches the interpreter. All values are in **bits**.
//!
//! The `extension-module` feature (turned on by maturin through `pyproject.toml`) leaves
//! libpython unlinked, as an extension module must; `cargo test --workspace` builds without it.
#![warn(missing_docs)]

use pyo3::prelude::*;

pub mod analyze;
pub mod arrays;
pub mod dlpack;
pub mod errors;
pub mod estimators;
pub mod layers;
pub mod tables;
pub mod train;

/// The native module `probe._probe`.
#[pymodule]
fn _probe(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("cuda", cfg!(feature = "cuda"))?;
    m.add_class::<estimators::Estimator>()?;
    m.add_class::<estimators::Binned>()?;
    m.add_class::<estimators::Floor>()?;
    m.add_class::<estimators::Adaptive>()?;
    m.add_class::<estimators::Kde>()?;
    m.add_class::<estimators::Knn>()?;
    m.add_class::<analyze::AnalysisResult>()?;
    m.add_function(wrap_pyfunction!(analyze::analyze, m)?)?;
    m.add_function(wrap_pyfunction!(analyze::entropy, m)?)?;
    m.add_function(wrap_pyfunction!(analyze::mutual_information, m)?)?;
    m.add_function(wrap_pyfunction!(analyze::plot_plane, m)?)?;
    m.add_function(wrap_pyfunction!(train::train, m)?)?;
    m.add_function(wrap_pyfunction!(dlpack::cuda_stream, m)?)?;
    Ok(())
}
