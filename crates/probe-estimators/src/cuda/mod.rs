//! probe's CUDA estimators (feature `cuda`): the binned estimators and per-neuron histograms of a
//! layer that lives on a CUDA device, computed by the kernels in `kernels/*.cu` (compiled to PTX by
//! `build.rs`). The activations never leave the device: only the entropy terms
//! ([`crate::BinnedCounts`], a few hundred numbers) or the histograms come back.
//!
//! The pipeline for `[n, d]` activations (f32, f64, f16 or bf16; others are cast to f32 on the
//! device first):
//! 1. `row_keys_*`: bin every value and reduce each row to a 122-bit key, one pass over the data
//!    (coefficients made once per thread and device by `key_coefficients`, then reused);
//! 2. `count_insert`: count the keys, the (key, x) and the (key, y) pairs in three hash tables;
//! 3. `term_runs`, `compact_runs`: turn the occupied slots into entropy terms `(c, g)` and count
//!    equal terms; the host sums them exactly as the CPU does ([`crate::counts`]).
//!
//! Rows are told apart by their keys: two different binned rows get equal keys with probability
//! below `n²/2 · 2^-122` (docs/gpu.md gives the argument), while the CPU path is exact.
//! `Adaptive` binnings need the layer's sorted values for their edges: those are computed on the
//! host (one copy of the layer); binning and counting still run on the device.
//!
//! # Streams: the rule of every launch
//!
//! **Every kernel launch, allocation and copy here goes to the stream of the device that owns the
//! input tensor** (`CudaDevice::cuda_stream()` of `t.device()`), never to a stream of our own:
//! then it runs after whatever candle queued there to produce the tensor. Open devices with
//! [`open_device`]: its one stream is shared by every thread, so a layer captured on one thread
//! and estimated by a rayon worker is ordered by the stream itself. A device of candle's
//! `Device::new_cuda` has cudarc's per-thread default stream, a different stream on every thread;
//! each entry point here therefore starts with `device::order_after_producers`, which waits for
//! the whole device on such a device (correct, slower) and does nothing on one from
//! [`open_device`]. Per-thread caches (labels, key coefficients) are used only by the thread that
//! made them, so they never cross streams either. `tests/cuda_streams.rs` checks this on a GPU.

mod counts;
mod device;
mod hist;
mod keys;
mod timing;

use std::sync::Arc;

use candle_core::cuda_backend::cudarc::driver::{
    CudaFunction, CudaSlice, CudaStream, CudaView, DeviceRepr, LaunchArgs, LaunchConfig,
    PushKernelArg, ValidAsZeroBits,
};
use candle_core::{CudaDevice, DType, Storage, Tensor};

use crate::binning::{Binner, Binning};
use crate::counts::host_f32;
use crate::error::{Error, Result};
use crate::kernel_plan::MAX_ROWS;

pub(crate) use counts::binned_counts;
pub use device::open_device;
pub(crate) use hist::neuron_histograms;
pub use timing::{device_info, time_binned_counts, time_row_keys, DeviceInfo, FLUSH_BYTES};

const PTX_KEYS: &str = include_str!(concat!(env!("OUT_DIR"), "/binned_keys.ptx"));
const PTX_COUNTS: &str = include_str!(concat!(env!("OUT_DIR"), "/distinct_counts.ptx"));
const PTX_HIST: &str = include_str!(concat!(env!("OUT_DIR"), "/neuron_hist.ptx"));

/// Threads per block of every kernel (a multiple of 32; the kernels' `__launch_bounds__`).
const BLOCK: u32 = 256;
/// Most blocks of a grid-stride launch.
const MAX_BLOCKS: u64 = 1 << 16;
/// Thresholds staged in shared memory by the row-key kernel (`PROBE_SMEM_THR_MAX`).
const SMEM_THR_MAX: usize = 2048;

/// Maps a driver (or candle) error to [`Error::Cuda`] naming the operation.
fn cuda_err<E: std::fmt::Display>(op: impl Into<String>) -> impl FnOnce(E) -> Error {
    let op = op.into();
    move |e| Error::Cuda {
        op,
        reason: e.to_string(),
    }
}

/// Blocks for `work` items at `per_block` items per block, capped for grid-stride kernels.
fn blocks(work: u64, per_block: u64) -> u32 {
    work.div_ceil(per_block).clamp(1, MAX_BLOCKS) as u32
}

/// 1-D launch configuration of `blocks` blocks of [`BLOCK`] threads.
fn cfg(blocks: u32, shared: u32) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: shared,
    }
}

/// The kernel `name` of the PTX module `module` (loaded once per device by candle).
fn func(dev: &CudaDevice, name: &str, module: &str, ptx: &str) -> Result<CudaFunction> {
    dev.get_or_load_custom_func(name, module, ptx)
        .map(|f| f.into_cuda_function())
        .map_err(cuda_err(format!("loading kernel {name}")))
}

/// Launches a built kernel call.
fn launch(mut b: LaunchArgs<'_>, name: &str, cfg: LaunchConfig) -> Result<()> {
    // SAFETY: every caller pushes exactly the arguments of the kernel's C signature (documented at
    // each kernel in kernels/*.cu), device buffers sized as the kernel indexes them.
    unsafe { b.launch(cfg) }
        .map(|_| ())
        .map_err(cuda_err(format!("launch of {name}")))
}

fn zeros<T: DeviceRepr + ValidAsZeroBits>(
    s: &Arc<CudaStream>,
    len: usize,
    what: &str,
) -> Result<CudaSlice<T>> {
    s.alloc_zeros::<T>(len.max(1))
        .map_err(cuda_err(format!("allocation of {what} ({len} values)")))
}

fn upload<T: DeviceRepr>(s: &Arc<CudaStream>, v: &[T], what: &str) -> Result<CudaSlice<T>> {
    s.clone_htod(v)
        .map_err(cuda_err(format!("upload of {what}")))
}

fn download<T: DeviceRepr>(s: &Arc<CudaStream>, v: &CudaView<'_, T>, what: &str) -> Result<Vec<T>> {
    s.clone_dtoh(v).map_err(cuda_err(format!(
        "download of {what} (or an earlier kernel)"
    )))
}

/// A contiguous device view of a layer's values, in one of the dtypes the kernels read.
pub(crate) enum Act<'a> {
    F32(CudaView<'a, f32>),
    F64(CudaView<'a, f64>),
    F16(CudaView<'a, half::f16>),
    Bf16(CudaView<'a, half::bf16>),
}

impl Act<'_> {
    /// The kernels' dtype suffix.
    pub(crate) fn suffix(&self) -> &'static str {
        match self {
            Act::F32(_) => "f32",
            Act::F64(_) => "f64",
            Act::F16(_) => "f16",
            Act::Bf16(_) => "bf16",
        }
    }

    /// Pushes the values pointer onto a kernel call.
    pub(crate) fn push<'b>(&'b self, b: &mut LaunchArgs<'b>) {
        match self {
            Act::F32(v) => b.arg(v),
            Act::F64(v) => b.arg(v),
            Act::F16(v) => b.arg(v),
            Act::Bf16(v) => b.arg(v),
        };
    }
}

/// Runs `f` on the `len` values of the CUDA tensor `t` (made contiguous, cast to f32 unless f32,
/// f64, f16 or bf16) with its device.
pub(crate) fn with_values<R>(
    t: &Tensor,
    len: usize,
    f: impl FnOnce(&CudaDevice, Act<'_>) -> Result<R>,
) -> Result<R> {
    let t = match t.dtype() {
        DType::F32 | DType::F64 | DType::F16 | DType::BF16 => t.contiguous()?,
        _ => t.to_dtype(DType::F32)?.contiguous()?,
    };
    let dev = t.device().as_cuda_device()?.clone();
    let (storage, layout) = t.storage_and_layout();
    let Storage::Cuda(s) = &*storage else {
        return Err(Error::Cuda {
            op: "reading a tensor".into(),
            reason: "the tensor is not on a CUDA device".into(),
        });
    };
    let range = layout.start_offset()..layout.start_offset() + len;
    let act = match t.dtype() {
        DType::F32 => Act::F32(s.as_cuda_slice::<f32>()?.slice(range)),
        DType::F64 => Act::F64(s.as_cuda_slice::<f64>()?.slice(range)),
        DType::F16 => Act::F16(s.as_cuda_slice::<half::f16>()?.slice(range)),
        _ => Act::Bf16(s.as_cuda_slice::<half::bf16>()?.slice(range)),
    };
    f(&dev, act)
}

/// The binner of `binning` for the layer `t` (adaptive edges from a host copy of the layer).
pub(crate) fn resolve(t: &Tensor, binning: &Binning) -> Result<Binner> {
    if binning.is_data_dependent() {
        binning.binner_for(&host_f32(t)?)
    } else {
        binning.binner()
    }
}

/// Checks `[n, d]` for the kernels: `1 <= n <= 2^29` ([`MAX_ROWS`]: the keys, labels and
/// counting tables of 2^29 rows take 36 GiB of device memory besides the activations, and every
/// table slot index must fit a `u32`) and `1 <= d < 2^31`.
pub(crate) fn check_dims(n: usize, d: usize) -> Result<()> {
    if n == 0 || n > MAX_ROWS {
        return Err(Error::InvalidDimension {
            what: "n",
            got: n,
            expected: "between 1 and 2^29 samples on a CUDA device",
        });
    }
    if d == 0 || d >= 1 << 31 {
        return Err(Error::InvalidDimension {
            what: "d",
            got: d,
            expected: "between 1 and 2^31 - 1 values per sample on a CUDA device",
        });
    }
    Ok(())
}

/// Thresholds of `plan` on the device (one spare value so that `m = 0` still has a pointer).
pub(crate) fn upload_thresholds(s: &Arc<CudaStream>, thr: &[f32]) -> Result<CudaSlice<f32>> {
    let mut v = thr.to_vec();
    v.push(0.0);
    upload(s, &v, "bin thresholds")
}
