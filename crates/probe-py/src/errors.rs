//! How a failure reaches Python: probe's errors become `ValueError` (bad input: the message says
//! what and how to fix it), `OSError` (the filesystem) or `RuntimeError` (anything else), with the
//! whole context chain as the message (`invalid config file run.toml: …`), as the CLI prints it.
//! A panic inside probe never unwinds into the interpreter: [`detached`] catches it and raises
//! `RuntimeError`.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::{PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::{PyErr, PyResult, Python};

/// Whether an estimator refused its input (a binning, a shape, a NaN under kde, a parameter):
/// every estimator error but a failure of candle or of the GPU. `probe_run`'s
/// `is_invalid_input` counts only the estimators' own `Invalid` messages; for Python, data that
/// an estimator cannot take is as much a `ValueError` as a bad flag.
fn estimator_refused(e: &probe_run::Error) -> bool {
    match e.root() {
        probe_run::Error::Estimator(e) => !matches!(
            e.root(),
            probe_estimators::Error::Candle(_) | probe_estimators::Error::Cuda { .. }
        ),
        _ => false,
    }
}

/// The Python exception for a probe error.
pub fn to_py(e: probe_run::Error) -> PyErr {
    let msg = e.chain();
    if e.is_invalid_input() || estimator_refused(&e) {
        PyValueError::new_err(msg)
    } else if e.is_io() {
        PyOSError::new_err(msg)
    } else {
        PyRuntimeError::new_err(msg)
    }
}

/// The Python exception for an estimator error (these come from the estimators' own validation:
/// `ValueError` for bad input, `RuntimeError` otherwise).
pub fn est_to_py(e: probe_estimators::Error) -> PyErr {
    to_py(probe_run::Error::Estimator(e))
}

/// A `ValueError` with `msg`.
pub fn value_error(msg: impl Into<String>) -> PyErr {
    PyValueError::new_err(msg.into())
}

/// A `TypeError` with `msg`.
pub fn type_error(msg: impl Into<String>) -> PyErr {
    PyTypeError::new_err(msg.into())
}

/// Runs `f` with the GIL released (other Python threads run meanwhile); a panic in `f` becomes a
/// `RuntimeError` instead of unwinding into Python.
pub fn detached<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    T: Send,
    F: Send + FnOnce() -> PyResult<T>,
{
    py.detach(|| caught(f))
}

/// Runs `f`, turning a panic into a `RuntimeError`.
pub fn caught<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(PyRuntimeError::new_err(format!(
                "internal error in probe (please report it): {what}"
            )))
        }
    }
}
