//! Device facts and kernel timings for the GPU benchmark (`examples/bench_cuda.rs`). Every timing
//! flushes the L2 cache first (a write of [`FLUSH_BYTES`]), so data smaller than L2 is read from
//! device memory as it would be in a run, and brackets the timed work with CUDA events.

use candle_core::cuda_backend::cudarc::driver::sys::{CUdevice_attribute, CUevent_flags};
use candle_core::cuda_backend::cudarc::driver::CudaStream;
use candle_core::{Device, Tensor};

use super::device::order_after_producers;
use super::keys::KeyJob;
use super::{binned_counts, check_dims, cuda_err, resolve, with_values, zeros};
use crate::binning::Binning;
use crate::error::Result;
use crate::kernel_plan::BinPlan;
use crate::shape::samples_shape;

/// Bytes written to evict the L2 cache before a timed call (H100: 50 MiB of L2).
pub const FLUSH_BYTES: usize = 256 << 20;

/// What the benchmark reports about the device.
#[derive(Clone, Debug)]
pub struct DeviceInfo {
    /// The device's name, e.g. "NVIDIA H100 80GB HBM3".
    pub name: String,
    /// Streaming multiprocessors.
    pub sms: i32,
    /// Peak memory bandwidth in GB/s from the driver's memory clock and bus width
    /// (2 transfers per clock).
    pub peak_gbs: f64,
}

/// [`DeviceInfo`] of a CUDA device.
pub fn device_info(dev: &Device) -> Result<DeviceInfo> {
    let ctx = dev.as_cuda_device()?.cuda_stream().context().clone();
    let attr = |a| ctx.attribute(a).map_err(cuda_err("device attribute query"));
    let clock_khz = attr(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE)? as f64;
    let bus_bits = attr(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH)? as f64;
    Ok(DeviceInfo {
        name: ctx.name().map_err(cuda_err("device name query"))?,
        sms: attr(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?,
        peak_gbs: 2.0 * clock_khz * 1e3 * bus_bits / 8.0 / 1e9,
    })
}

/// Mean seconds of `f` over `reps` calls, each after an L2 flush, timed by events on `s`.
fn time_on(
    s: &std::sync::Arc<CudaStream>,
    reps: usize,
    mut f: impl FnMut() -> Result<()>,
) -> Result<f64> {
    let mut flush = zeros::<u8>(s, FLUSH_BYTES, "L2 flush buffer")?;
    let timing = Some(CUevent_flags::CU_EVENT_DEFAULT);
    f()?; // warm-up: module loading, allocations
    let mut total = 0.0;
    for _ in 0..reps.max(1) {
        s.memset_zeros(&mut flush).map_err(cuda_err("L2 flush"))?;
        let start = s.record_event(timing).map_err(cuda_err("event record"))?;
        f()?;
        let end = s.record_event(timing).map_err(cuda_err("event record"))?;
        end.synchronize().map_err(cuda_err("timed work"))?;
        total += start.elapsed_ms(&end).map_err(cuda_err("event timing"))? as f64 * 1e-3;
    }
    Ok(total / reps.max(1) as f64)
}

/// Seconds per call of the quantise + row-key kernel alone on the CUDA tensor `t` (`[n, …]`).
pub fn time_row_keys(t: &Tensor, binning: &Binning, reps: usize) -> Result<f64> {
    let (n, d) = samples_shape(t)?;
    check_dims(n, d)?;
    order_after_producers(t)?;
    let plan = BinPlan::new(&resolve(t, binning)?);
    with_values(t, n * d, |dev, act| {
        let s = dev.cuda_stream();
        let mut job = KeyJob::new(dev, n, d as u32, &plan)?;
        time_on(&s, reps, || job.launch(dev, &act))
    })
}

/// Seconds per call of the whole binned estimate on the CUDA tensor `t`: keys, counting, and the
/// terms back on the host (what `binned_counts_tensor` runs on a CUDA tensor; `binned_mi_tensor`
/// adds only host arithmetic).
pub fn time_binned_counts(
    t: &Tensor,
    binning: &Binning,
    x_ids: &[u32],
    y: &[u32],
    reps: usize,
) -> Result<f64> {
    let (n, d) = samples_shape(t)?;
    let s = t.device().as_cuda_device()?.cuda_stream();
    time_on(&s, reps, || {
        binned_counts(t, n, d, binning, x_ids, y).map(|_| ())
    })
}
