//! numpy arrays as candle tensors, host values and label vectors.
//!
//! Every array is read through the `numpy` crate's read-only views, which carry the array's real
//! strides: a C-contiguous array is copied in one `memcpy`, a 2-d Fortran-order one by a tiled
//! transpose, any other layout (a column slice `a[:, :1]`, a reversed or broadcast view) element
//! by element in logical (C) order, so the values always are those the array shows — never the
//! bytes of its buffer. (C-contiguous float32 activations are not copied at all: see
//! [`crate::layers`].)
//! The Python side (`probe/__init__.py`) turns torch tensors, DLPack producers and sequences
//! into numpy arrays first, byte-swapped arrays into native order, and bfloat16 arrays (torch's,
//! or ml_dtypes' as JAX gives them; numpy has no bfloat16 of its own) into their bits as int16
//! with a flag saying so.

use candle_core::{Device, Tensor};
use half::{bf16, f16};
use numpy::{
    Element, PyArrayDescrMethods, PyReadonlyArrayDyn, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::prelude::*;

use crate::errors::{type_error, value_error};

/// The element type of a numpy array, as far as probe reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Elem {
    F16,
    F32,
    F64,
    Bool,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
}

impl Elem {
    fn is_float(self) -> bool {
        matches!(self, Elem::F16 | Elem::F32 | Elem::F64)
    }
}

/// `obj` as a numpy array, or a `TypeError` naming `what`.
fn untyped<'a, 'py>(
    obj: &'a Bound<'py, PyAny>,
    what: &str,
) -> PyResult<&'a Bound<'py, PyUntypedArray>> {
    obj.cast::<PyUntypedArray>().map_err(|_| {
        type_error(format!(
            "{what}: expected a numpy array (or a torch tensor / DLPack array), got {}",
            obj.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_else(|_| "an unknown type".into())
        ))
    })
}

/// The element type of `a`, or a `TypeError` naming `what` and the dtype.
fn elem(a: &Bound<'_, PyUntypedArray>, what: &str) -> PyResult<Elem> {
    let dt = a.dtype();
    let size = dt.itemsize();
    let e = match (dt.kind(), size) {
        (b'f', 2) => Some(Elem::F16),
        (b'f', 4) => Some(Elem::F32),
        (b'f', 8) => Some(Elem::F64),
        (b'b', 1) => Some(Elem::Bool),
        (b'i', 1) => Some(Elem::I8),
        (b'i', 2) => Some(Elem::I16),
        (b'i', 4) => Some(Elem::I32),
        (b'i', 8) => Some(Elem::I64),
        (b'u', 1) => Some(Elem::U8),
        (b'u', 2) => Some(Elem::U16),
        (b'u', 4) => Some(Elem::U32),
        (b'u', 8) => Some(Elem::U64),
        _ => None,
    };
    if dt.is_native_byteorder() == Some(false) {
        return Err(type_error(format!(
            "{what}: the array is not in the machine's byte order; convert it with a.astype(a.dtype.newbyteorder('='))"
        )));
    }
    e.ok_or_else(|| {
        type_error(format!(
            "{what} has dtype {}; expected float16, bfloat16, float32 or float64 activations, integer labels and integer or float inputs",
            dt.str().map(|s| s.to_string()).unwrap_or_else(|_| "?".into())
        ))
    })
}

/// Whether `obj` is a numpy array of native-order float32 (what [`crate::layers`] may lend in
/// place).
pub(crate) fn is_float32(obj: &Bound<'_, PyAny>) -> bool {
    obj.cast::<PyUntypedArray>().is_ok_and(|a| {
        let dt = a.dtype();
        dt.kind() == b'f' && dt.itemsize() == 4 && dt.is_native_byteorder() != Some(false)
    })
}

/// The values of `a` in logical (C) order, and its shape: one buffer, written once.
pub(crate) fn values<T: Element + Copy>(a: &Bound<'_, PyAny>) -> PyResult<(Vec<T>, Vec<usize>)> {
    let ro: PyReadonlyArrayDyn<'_, T> = a.extract()?;
    let v = ro.as_array();
    let shape = v.shape().to_vec();
    let data = match v.as_slice() {
        Some(s) => s.to_vec(),
        None => match (v.t().as_slice(), shape.as_slice()) {
            // Fortran order, 2-d (what `np.asfortranarray` and a transposed matrix give): a
            // blocked transpose, not a strided walk that misses the cache on every element.
            (Some(f), &[rows, cols]) => transpose(f, cols, rows),
            _ => v.iter().copied().collect(),
        },
    };
    Ok((data, shape))
}

/// The transpose of row-major `[rows, cols]` `a`, row-major `[cols, rows]`, in 32 × 32 tiles:
/// each output row of a tile is written as one run of 32 values (two cache lines) from 32 source
/// rows whose lines the tile's other output rows reuse. 2.5× less CPU time than a tile written
/// column by column on a 10 000 × 1024 float32 array (26 vs 66 ms, most of what remains is the
/// new buffer's page faults; BENCHMARKS.md, Python bindings).
fn transpose<T: Copy>(a: &[T], rows: usize, cols: usize) -> Vec<T> {
    const B: usize = 32;
    let mut out = Vec::with_capacity(a.len());
    let spare = &mut out.spare_capacity_mut()[..a.len()];
    for c0 in (0..cols).step_by(B) {
        for r0 in (0..rows).step_by(B) {
            let r1 = (r0 + B).min(rows);
            for c in c0..(c0 + B).min(cols) {
                let dst = &mut spare[c * rows + r0..c * rows + r1];
                for (k, d) in dst.iter_mut().enumerate() {
                    d.write(a[(r0 + k) * cols + c]);
                }
            }
        }
    }
    // SAFETY: the loops above wrote every one of the `rows * cols == a.len()` elements (each
    // output row `c` in runs `r0..r1` covering `0..rows`).
    unsafe { out.set_len(a.len()) };
    out
}

fn tensor<T: candle_core::WithDType>(data: Vec<T>, shape: Vec<usize>) -> PyResult<Tensor> {
    Tensor::from_vec(data, shape, &Device::Cpu).map_err(|e| crate::errors::to_py(e.into()))
}

/// Float activations `[samples, …]` as a CPU tensor of the same dtype (f16, bf16, f32, f64).
/// `bf16_bits`: the array holds the bits of bfloat16 values as 16-bit integers (how a torch
/// bfloat16 tensor crosses into numpy).
/// A DLPack capsule (a CUDA tensor handed over by the wrapper) is read by [`crate::dlpack`].
pub fn float_tensor(obj: &Bound<'_, PyAny>, what: &str, bf16_bits: bool) -> PyResult<Tensor> {
    if crate::dlpack::is_capsule(obj) {
        return crate::dlpack::capsule_tensor(obj, what);
    }
    let a = untyped(obj, what)?;
    let e = elem(a, what)?;
    if bf16_bits {
        return match e {
            Elem::I16 => {
                let (v, s) = values::<i16>(obj)?;
                tensor(
                    v.into_iter().map(|b| bf16::from_bits(b as u16)).collect(),
                    s,
                )
            }
            Elem::U16 => {
                let (v, s) = values::<u16>(obj)?;
                tensor(v.into_iter().map(bf16::from_bits).collect(), s)
            }
            _ => Err(type_error(format!("{what}: bfloat16 bits must be int16"))),
        };
    }
    match e {
        Elem::F16 => values::<f16>(obj).and_then(|(v, s)| tensor(v, s)),
        Elem::F32 => values::<f32>(obj).and_then(|(v, s)| tensor(v, s)),
        Elem::F64 => values::<f64>(obj).and_then(|(v, s)| tensor(v, s)),
        _ => Err(type_error(format!(
            "{what} has dtype {}; activations must be float16, bfloat16, float32 or float64",
            a.dtype()
                .str()
                .map(|s| s.to_string())
                .unwrap_or_else(|_| "?".into())
        ))),
    }
}

/// The integers of `a` (any integer or bool dtype) widened to `i128`, and the shape.
fn int_values(obj: &Bound<'_, PyAny>, e: Elem) -> PyResult<Option<(Vec<i128>, Vec<usize>)>> {
    fn wide<T: Element + Copy + Into<i128>>(
        obj: &Bound<'_, PyAny>,
    ) -> PyResult<(Vec<i128>, Vec<usize>)> {
        let (v, s) = values::<T>(obj)?;
        Ok((v.into_iter().map(Into::into).collect(), s))
    }
    Ok(Some(match e {
        Elem::Bool => {
            let (v, s) = values::<bool>(obj)?;
            (v.into_iter().map(i128::from).collect(), s)
        }
        Elem::I8 => wide::<i8>(obj)?,
        Elem::I16 => wide::<i16>(obj)?,
        Elem::I32 => wide::<i32>(obj)?,
        Elem::I64 => wide::<i64>(obj)?,
        Elem::U8 => wide::<u8>(obj)?,
        Elem::U16 => wide::<u16>(obj)?,
        Elem::U32 => wide::<u32>(obj)?,
        Elem::U64 => wide::<u64>(obj)?,
        _ => return Ok(None),
    }))
}

/// Inputs `[samples, …]` (any integer or float dtype) as a CPU tensor for
/// [`probe_run::analyze::InputIds::from_tensor`]: floats keep their dtype, integers become i64.
pub fn input_tensor(obj: &Bound<'_, PyAny>, what: &str, bf16_bits: bool) -> PyResult<Tensor> {
    let a = untyped(obj, what)?;
    let e = elem(a, what)?;
    if e.is_float() || bf16_bits {
        return float_tensor(obj, what, bf16_bits);
    }
    let Some((v, s)) = int_values(obj, e)? else {
        return Err(type_error(format!(
            "{what}: expected an integer or float array, got {e:?}"
        )));
    };
    let v = v
        .into_iter()
        .map(|x| {
            i64::try_from(x).map_err(|_| value_error(format!("{what}: value {x} is beyond int64")))
        })
        .collect::<PyResult<Vec<i64>>>()?;
    tensor(v, s)
}

/// Class labels: an integer array `[samples]` or `[samples, 1]` of ids in `0..=u32::MAX`.
pub fn labels(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u32>> {
    let a = untyped(obj, what)?;
    let e = elem(a, what)?;
    let Some((v, shape)) = int_values(obj, e)? else {
        return Err(type_error(format!(
            "{what} have dtype {}; labels must be integer class ids (e.g. int64), not floats or one-hot rows",
            a.dtype()
                .str()
                .map(|s| s.to_string())
                .unwrap_or_else(|_| "?".into())
        )));
    };
    if !matches!(shape.as_slice(), [_] | [_, 1]) {
        return Err(value_error(format!(
            "{what} have shape {shape:?}; expected [samples] (one class id per sample)"
        )));
    }
    v.into_iter()
        .enumerate()
        .map(|(i, x)| {
            u32::try_from(x).map_err(|_| {
                if x < 0 {
                    value_error(format!(
                        "{what}: label {x} at index {i} is negative; labels must be class ids ≥ 0"
                    ))
                } else {
                    value_error(format!(
                        "{what}: label {x} at index {i} is larger than {}",
                        u32::MAX
                    ))
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::transpose;

    /// The tiled transpose against the definition, on shapes with partial tiles on both edges.
    #[test]
    fn transpose_is_the_transpose() {
        for (rows, cols) in [(37, 70), (64, 32), (1, 5), (5, 1), (0, 3), (33, 1025)] {
            let a: Vec<u32> = (0..rows * cols).map(|i| i as u32).collect();
            let t = transpose(&a, rows, cols);
            let want: Vec<u32> = (0..cols)
                .flat_map(|c| (0..rows).map(move |r| (r * cols + c) as u32))
                .collect();
            assert_eq!(t, want, "{rows} x {cols}");
        }
    }
}
