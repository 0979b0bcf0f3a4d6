//! Activations held for one native call, so that the estimators read float32 numpy buffers in
//! place instead of a copy.
//!
//! * A **C-contiguous float32** array (what `np.tanh(…)`, a torch CPU tensor through DLPack and
//!   most producers give) is borrowed: [`Held::Borrowed`] keeps a `PyReadonlyArray` and lends its
//!   buffer as [`HostRows`] — no copy, no new pages.
//! * A float32 array of another layout (Fortran order, a column slice `a[:, :1]`, a reversed
//!   view) is converted once, into one buffer in logical (C) order ([`Held::Owned`]; a blocked
//!   transpose for Fortran order), which the estimators then read in place.
//! * Every other dtype (float16, bfloat16 bits, float64), a rank-0 array and a CUDA DLPack capsule
//!   become a candle tensor as before ([`crate::arrays::float_tensor`]): float64 keeps its
//!   precision where an estimator uses it, a CUDA tensor stays on its device.
//!
//! The values the estimators see are the same either way, so the results are bit-identical to
//! those of a tensor (and of `probe analyze` on the same data saved as a file).
//!
//! # Reading a borrowed buffer with the GIL released
//!
//! The native functions release the GIL around the analysis ([`crate::errors::detached`]) while
//! the borrowed slices are read. What keeps that sound:
//!
//! * **Lifetime.** The `PyReadonlyArray` holds a strong reference to the array, so neither the
//!   array nor its buffer (owned by the array or by its `base` chain, which the array references)
//!   can be freed before the borrow ends; the borrow checker ties the lent slices to the [`Held`]
//!   values, which live in the calling frame, with the GIL held, until the analysis has returned.
//!   (numpy's own `ndarray.resize(refcheck=False)` could still reallocate it: numpy documents
//!   that as unsafe while any reference exists.)
//! * **No writer through Rust.** The readonly borrow is registered in the `numpy` crate's borrow
//!   tracking, shared by every extension built on it: a request for a writable view of the same
//!   memory fails meanwhile.
//! * **What it cannot stop:** Python code in another thread writing into the same memory during
//!   the call. As with numpy's own loops, which also read their inputs with the GIL released,
//!   the caller must not do that; the docstrings of `probe.analyze` say so. (A copy under the
//!   GIL, as before, gave a snapshot at the cost of 40 MB of fresh pages per 10 000 × 1024
//!   layer, +19 % of the call; BENCHMARKS.md.)

use candle_core::Tensor;
use numpy::{PyReadonlyArrayDyn, PyUntypedArrayMethods};
use probe_estimators::{HostRows, Layer};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use crate::arrays::{float_tensor, is_float32, values};
use crate::errors::est_to_py;

/// One layer's activations, held for the duration of a native call.
pub enum Held<'py> {
    /// A C-contiguous float32 array, lent in place.
    Borrowed(PyReadonlyArrayDyn<'py, f32>),
    /// A float32 array of another layout: its values in C order, and the shape.
    Owned(Vec<f32>, Vec<usize>),
    /// Any other dtype or a CUDA capsule, as a tensor.
    Tensor(Tensor),
}

impl<'py> Held<'py> {
    /// Holds the float activations `obj` (`[samples, …]`; see the [module docs](self));
    /// `bf16_bits`: the array holds bfloat16 bits as int16. Errors (a `TypeError` naming `what`)
    /// as [`float_tensor`].
    pub fn new(obj: &Bound<'py, PyAny>, what: &str, bf16_bits: bool) -> PyResult<Self> {
        if bf16_bits || !is_float32(obj) {
            return Ok(Held::Tensor(float_tensor(obj, what, bf16_bits)?));
        }
        let ro: PyReadonlyArrayDyn<'py, f32> = obj.extract()?;
        if ro.ndim() == 0 {
            // A scalar is refused by the analysis with its own message; keep that path.
            return Ok(Held::Tensor(float_tensor(obj, what, false)?));
        }
        if ro.as_array().is_standard_layout() {
            return Ok(Held::Borrowed(ro));
        }
        let (v, shape) = values::<f32>(obj)?;
        Ok(Held::Owned(v, shape))
    }

    /// The layer as the estimators read it: host rows lent from the array or from the converted
    /// buffer, or the tensor (a reference-counted handle, not a copy).
    pub fn layer(&self) -> PyResult<Layer<'_>> {
        Ok(match self {
            Held::Borrowed(ro) => {
                let a = ro.as_array();
                let shape = a.shape().to_vec();
                // `is_standard_layout` was checked in `new`, so the slice is the C-order values.
                let Some(v) = a.to_slice() else {
                    return Err(PyRuntimeError::new_err(
                        "internal error in probe: a C-contiguous array has no contiguous slice",
                    ));
                };
                Layer::Host(HostRows::new(v, shape).map_err(est_to_py)?)
            }
            Held::Owned(v, shape) => {
                Layer::Host(HostRows::new(v.as_slice(), shape.clone()).map_err(est_to_py)?)
            }
            Held::Tensor(t) => Layer::Tensor(t.clone()),
        })
    }
}

/// Holds every `(name, array, holds_bf16_bits)` layer ([`Held::new`]; errors name
/// `activations["name"]`).
pub fn hold_all<'py>(layers: &[(String, Bound<'py, PyAny>, bool)]) -> PyResult<Vec<Held<'py>>> {
    layers
        .iter()
        .map(|(name, a, bf16)| Held::new(a, &format!("activations[{name:?}]"), *bf16))
        .collect()
}

/// The layers of [`hold_all`]'s values, named.
pub fn lend<'a>(
    names: impl IntoIterator<Item = &'a String>,
    held: &'a [Held<'_>],
) -> PyResult<Vec<(String, Layer<'a>)>> {
    names
        .into_iter()
        .zip(held)
        .map(|(name, h)| Ok((name.clone(), h.layer()?)))
        .collect()
}
