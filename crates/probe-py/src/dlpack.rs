//! DLPack capsules (`tensor.__dlpack__(stream=…)`) as candle tensors, for activations that should
//! not pass through the host.
//!
//! The Python wrapper hands a CUDA torch tensor over as a capsule when this build has CUDA: its
//! values are copied **device to device** onto probe's CUDA device (the one from
//! `probe_estimators::cuda::open_device`, whose stream the producer was told to order its work
//! before, through `__dlpack__(stream=cuda_stream(device))`), and the estimators' kernels read
//! them there. A CPU capsule (numpy's or torch's `__dlpack__()`, passed by a user) is copied into a
//! CPU tensor, so the capsule path is exercised without a GPU too.
//!
//! Protocol (DLPack's Python specification): the consumer checks the capsule is named `dltensor`,
//! renames it `used_dltensor` (so the producer's capsule destructor leaves it alone) and calls
//! the tensor's deleter when it no longer needs the memory — here after the copy has finished.
//! Capsules must be C-contiguous (the wrapper calls `.contiguous()`); floats only (f16, bf16,
//! f32, f64), one lane.

use std::ffi::{c_void, CStr};

use candle_core::{DType, Device, Tensor};
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyCapsuleMethods};

use crate::errors::{to_py, type_error, value_error};

/// `DLDevice`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct DlDevice {
    device_type: i32,
    device_id: i32,
}

/// `DLDataType`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct DlDataType {
    code: u8,
    bits: u8,
    lanes: u16,
}

/// `DLTensor`.
#[repr(C)]
struct DlTensor {
    data: *mut c_void,
    device: DlDevice,
    ndim: i32,
    dtype: DlDataType,
    shape: *const i64,
    strides: *const i64,
    byte_offset: u64,
}

/// `DLManagedTensor` (the unversioned struct a plain `__dlpack__()` returns).
#[repr(C)]
struct DlManagedTensor {
    dl_tensor: DlTensor,
    manager_ctx: *mut c_void,
    deleter: Option<unsafe extern "C" fn(*mut DlManagedTensor)>,
}

const DL_CPU: i32 = 1;
const DL_CUDA: i32 = 2;
const DL_FLOAT: u8 = 2;
const DL_BFLOAT: u8 = 4;
const NAME: &CStr = c"dltensor";
const USED: &CStr = c"used_dltensor";

/// Whether `obj` is a Python capsule (what `__dlpack__()` returns).
pub fn is_capsule(obj: &Bound<'_, PyAny>) -> bool {
    obj.is_instance_of::<PyCapsule>()
}

/// Consumes the DLPack capsule `obj` (activations `[samples, …]`) into a tensor on its device:
/// a CUDA capsule onto probe's CUDA device (device to device), a CPU capsule into a CPU tensor.
pub fn capsule_tensor(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Tensor> {
    let capsule = obj.cast::<PyCapsule>()?;
    let ptr = capsule.pointer_checked(Some(NAME)).map_err(|_| {
        value_error(format!(
            "{what}: a DLPack capsule must be named \"dltensor\" and unused (each capsule can be read once)"
        ))
    })?;
    let managed = ptr.as_ptr().cast::<DlManagedTensor>();
    // SAFETY: a capsule named "dltensor" holds a DLManagedTensor (DLPack's contract), alive until
    // its deleter is called, which only we do from here on (after the rename below).
    let t = unsafe { &(*managed).dl_tensor };
    let read = describe(t, what).and_then(|(dtype, shape)| copy(t, dtype, shape, what));
    // The copy has finished (CUDA: synchronised): the producer may free the memory now.
    // SAFETY: renaming a live capsule; then the deleter is called exactly once, by its owner.
    unsafe {
        pyo3::ffi::PyCapsule_SetName(capsule.as_ptr(), USED.as_ptr());
        if let Some(deleter) = (*managed).deleter {
            deleter(managed);
        }
    }
    read
}

/// The dtype and shape of `t`, checked: floats of one lane, C-contiguous, at least one dim.
fn describe(t: &DlTensor, what: &str) -> PyResult<(DType, Vec<usize>)> {
    let dt = t.dtype;
    let dtype = match (dt.code, dt.bits, dt.lanes) {
        (DL_FLOAT, 16, 1) => DType::F16,
        (DL_FLOAT, 32, 1) => DType::F32,
        (DL_FLOAT, 64, 1) => DType::F64,
        (DL_BFLOAT, 16, 1) => DType::BF16,
        _ => {
            return Err(type_error(format!(
                "{what}: DLPack dtype (code {}, {} bits, {} lanes) is not a float; activations must be float16, bfloat16, float32 or float64",
                dt.code, dt.bits, dt.lanes
            )))
        }
    };
    let ndim = usize::try_from(t.ndim).unwrap_or(0);
    if ndim == 0 || t.shape.is_null() {
        return Err(value_error(format!(
            "{what}: a 0-d tensor is not a layer; expected [samples, …]"
        )));
    }
    // SAFETY: DLPack: `shape` (and `strides` when not null) point to `ndim` values.
    let dims = unsafe { std::slice::from_raw_parts(t.shape, ndim) };
    let shape: Vec<usize> = dims
        .iter()
        .map(|&s| usize::try_from(s))
        .collect::<Result<_, _>>()
        .map_err(|_| value_error(format!("{what}: negative DLPack shape {dims:?}")))?;
    if !t.strides.is_null() {
        let strides = unsafe { std::slice::from_raw_parts(t.strides, ndim) };
        let mut expected = 1i64;
        for (i, (&s, &n)) in strides.iter().zip(dims).enumerate().rev() {
            if n > 1 && s != expected {
                return Err(value_error(format!(
                    "{what}: the DLPack tensor is not C-contiguous (strides {strides:?}, dim {i}); call .contiguous() first"
                )));
            }
            expected *= n.max(1);
        }
    }
    Ok((dtype, shape))
}

/// A tensor holding a copy of `t`'s values, on `t`'s device.
fn copy(t: &DlTensor, dtype: DType, shape: Vec<usize>, what: &str) -> PyResult<Tensor> {
    let len: usize = shape.iter().product();
    let bytes = len * dtype.size_in_bytes();
    let src = (t.data as usize).wrapping_add(t.byte_offset as usize);
    match t.device.device_type {
        DL_CPU => {
            // SAFETY: a CPU DLPack tensor's `bytes` bytes start at data + byte_offset.
            let raw = unsafe { std::slice::from_raw_parts(src as *const u8, bytes) };
            Tensor::from_raw_buffer(raw, dtype, &shape, &Device::Cpu).map_err(|e| to_py(e.into()))
        }
        DL_CUDA => cuda::copy(src, t.device.device_id, dtype, shape, what),
        other => Err(value_error(format!(
            "{what}: DLPack device type {other} is not supported; probe reads CPU (1) and CUDA (2) tensors"
        ))),
    }
}

#[cfg(feature = "cuda")]
mod cuda {
    //! The device-to-device copy onto probe's CUDA device.

    use candle_core::cuda_backend::cudarc::driver::{
        result, sys, DevicePtrMut, DeviceRepr, ValidAsZeroBits,
    };
    use candle_core::cuda_backend::{CudaDType, CudaStorage};
    use candle_core::op::BackpropOp;
    use candle_core::{CudaDevice, DType, Storage, Tensor};
    use half::{bf16, f16};
    use pyo3::PyResult;

    use crate::errors::{est_to_py, to_py, value_error};

    /// The handle of probe's stream on CUDA device `ordinal`, for `__dlpack__(stream=…)`.
    pub fn stream_handle(ordinal: usize) -> PyResult<usize> {
        let dev = probe_estimators::cuda::open_device(ordinal).map_err(est_to_py)?;
        let cuda = dev.as_cuda_device().map_err(|e| to_py(e.into()))?;
        Ok(cuda.cuda_stream().cu_stream() as usize)
    }

    /// Copies `len(shape)` values of `dtype` at device address `src` of device `ordinal`.
    pub fn copy(
        src: usize,
        ordinal: i32,
        dtype: DType,
        shape: Vec<usize>,
        what: &str,
    ) -> PyResult<Tensor> {
        let ordinal = usize::try_from(ordinal)
            .map_err(|_| value_error(format!("{what}: CUDA device {ordinal}")))?;
        let dev = probe_estimators::cuda::open_device(ordinal).map_err(est_to_py)?;
        let cuda = dev.as_cuda_device().map_err(|e| to_py(e.into()))?.clone();
        let len = shape.iter().product();
        let storage = match dtype {
            DType::F16 => copy_as::<f16>(&cuda, src, len),
            DType::BF16 => copy_as::<bf16>(&cuda, src, len),
            DType::F32 => copy_as::<f32>(&cuda, src, len),
            _ => copy_as::<f64>(&cuda, src, len),
        }
        .map_err(|e| value_error(format!("{what}: copying the CUDA tensor: {e}")))?;
        Ok(Tensor::from_storage(
            Storage::Cuda(storage),
            shape,
            BackpropOp::none(),
            false,
        ))
    }

    /// A new device buffer of `len` values copied from `src` on the device's stream, waited for.
    fn copy_as<T: CudaDType + DeviceRepr + ValidAsZeroBits>(
        cuda: &CudaDevice,
        src: usize,
        len: usize,
    ) -> Result<CudaStorage, String> {
        let stream = cuda.cuda_stream();
        let mut dst = stream.alloc_zeros::<T>(len).map_err(|e| e.to_string())?;
        {
            let (dptr, _sync) = dst.device_ptr_mut(&stream);
            // SAFETY: both buffers hold `len` values of T (the producer's by DLPack's contract,
            // ours by allocation); the copy is ordered on our stream, after the producer's work
            // (it was told this stream through `__dlpack__(stream=…)`).
            unsafe {
                result::memcpy_dtod_async(
                    dptr,
                    src as sys::CUdeviceptr,
                    len * std::mem::size_of::<T>(),
                    stream.cu_stream(),
                )
            }
            .map_err(|e| e.to_string())?;
        }
        // The producer frees its buffer once we call its deleter: finish the copy first.
        stream.synchronize().map_err(|e| e.to_string())?;
        Ok(CudaStorage::wrap_cuda_slice(dst, cuda.clone()))
    }
}

#[cfg(not(feature = "cuda"))]
mod cuda {
    //! Without the CUDA backend: CUDA capsules are refused with the way to get them read.

    use candle_core::{DType, Tensor};
    use pyo3::PyResult;

    use crate::errors::value_error;

    /// Always an error: this build has no CUDA.
    pub fn copy(
        _src: usize,
        _ordinal: i32,
        _dtype: DType,
        _shape: Vec<usize>,
        what: &str,
    ) -> PyResult<Tensor> {
        Err(value_error(format!(
            "{what}: a CUDA tensor's DLPack capsule needs probe built with CUDA (pip install with MATURIN_PEP517_ARGS=\"--features cuda\"); or pass the tensor itself, which is copied to the host"
        )))
    }
}

/// `_probe.cuda_stream(device)`: the handle of the stream probe's CUDA device `device` uses, to
/// pass as `tensor.__dlpack__(stream=…)` (the producer then orders its work before ours).
#[pyfunction]
pub fn cuda_stream(device: usize) -> PyResult<usize> {
    #[cfg(feature = "cuda")]
    {
        cuda::stream_handle(device)
    }
    #[cfg(not(feature = "cuda"))]
    {
        Err(value_error(format!(
            "cuda_stream({device}): this build of probe has no CUDA"
        )))
    }
}
