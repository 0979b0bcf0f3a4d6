//! Opening a CUDA device with one stream for every thread, and the ordering rule of every launch.
//!
//! candle 0.11's `Device::new_cuda` gives its device cudarc's *per-thread* default stream (handle
//! `CU_STREAM_PER_THREAD`): each OS thread that launches through it launches into a stream of its
//! own, and nothing orders one thread's stream after another's. Activations captured on one thread
//! (`Tensor::cat` queued there) and estimated by rayon workers would be read before they are
//! written, giving wrong counts and no error. [`open_device`] opens the device with one owned
//! stream (`CudaDevice::new_with_stream`) that every thread shares: work is ordered as the threads
//! queue it, so whatever a thread queued before handing a tensor to another thread runs first.
//!
//! ```no_run
//! # fn main() -> probe_estimators::Result<()> {
//! let dev = probe_estimators::cuda::open_device(0)?; // the same Device on every call
//! # Ok(()) }
//! ```

use std::sync::Mutex;

use candle_core::cuda_backend::cudarc::driver::CudaStream;
use candle_core::{CudaDevice, Device, Tensor};

use crate::error::{Error, Result};

/// The devices opened by [`open_device`], by ordinal.
static OPENED: Mutex<Vec<(usize, Device)>> = Mutex::new(Vec::new());

/// The CUDA device `ordinal` with **one stream shared by every thread** (candle's
/// `Device::new_cuda_with_stream`). Every call with the same ordinal in this process returns the
/// same device (a clone of it: same stream, same cuBLAS handle, same loaded kernels).
///
/// Use it instead of `Device::new_cuda` wherever tensors made on one thread are read on another
/// (capture on the main thread, estimators in rayon workers): on this device every candle op and
/// every probe kernel, from any thread, goes to the one stream in the order the threads queue
/// them. Probe's estimators also accept tensors of a `Device::new_cuda` device, but must then wait
/// for the whole device before each estimate (see [`order_after_producers`]).
pub fn open_device(ordinal: usize) -> Result<Device> {
    let mut opened = OPENED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, dev)) = opened.iter().find(|(o, _)| *o == ordinal) {
        return Ok(dev.clone());
    }
    let dev = Device::new_cuda_with_stream(ordinal).map_err(|e| Error::Cuda {
        op: format!("opening CUDA device {ordinal}"),
        reason: e.to_string(),
    })?;
    opened.push((ordinal, dev.clone()));
    Ok(dev)
}

/// Whether `s` is a stream that means a different stream on every thread (the per-thread default
/// stream, `Device::new_cuda`'s).
fn is_per_thread(s: &CudaStream) -> bool {
    s.cu_stream() as usize == 0x2 // CU_STREAM_PER_THREAD
}

/// Makes the work that produced `t` complete before anything this thread queues next reads it.
///
/// The rule of every launch in this module: **a kernel goes to the stream of the device that owns
/// its input tensor** (`CudaDevice::cuda_stream`), never a stream of our own. On a device from
/// [`open_device`] that stream is shared by all threads, so this costs nothing. On a device whose
/// stream is the per-thread default stream, the tensor may have been produced on another thread's
/// stream that ours does not follow: then the whole context is synchronised first (every stream
/// of every thread), which is correct but stalls the host once per estimate.
pub(crate) fn order_after_producers(t: &Tensor) -> Result<()> {
    let dev: &CudaDevice = t.device().as_cuda_device()?;
    let s = dev.cuda_stream();
    if is_per_thread(&s) {
        s.context().synchronize().map_err(|e| Error::Cuda {
            op: "synchronising the device before reading a tensor of a per-thread stream".into(),
            reason: e.to_string(),
        })?;
    }
    Ok(())
}
