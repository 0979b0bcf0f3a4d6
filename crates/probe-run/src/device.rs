//! `--device auto|cpu|cuda`: picks the candle device a run uses. CUDA devices are opened with one
//! stream shared by all threads, so work queued by the capturing thread and by the estimators'
//! worker threads is ordered.

use crate::error::Result;
use candle_core::Device;

use crate::config::DeviceChoice;

/// The device for `choice` (`auto` = CUDA when compiled in and present, else CPU).
pub fn resolve(choice: DeviceChoice) -> Result<Device> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Cuda => cuda(),
        DeviceChoice::Auto => {
            if cfg!(feature = "cuda") && candle_core::utils::cuda_is_available() {
                cuda()
            } else {
                Ok(Device::Cpu)
            }
        }
    }
}

#[cfg(feature = "cuda")]
fn cuda() -> Result<Device> {
    use crate::error::Context;
    // One stream shared by every thread: activations captured on this thread are estimated in
    // rayon workers, and both must queue on the same stream to be ordered (see
    // `probe_estimators::cuda::open_device`).
    probe_estimators::cuda::open_device(0)
        .context("cannot open CUDA device 0 (is a GPU and its driver present?); use --device cpu")
}

#[cfg(not(feature = "cuda"))]
fn cuda() -> Result<Device> {
    crate::error::bail!(
        "this probe was built without CUDA support; rebuild with `cargo build --release --features cuda` \
         (needs the CUDA toolkit) or use --device cpu"
    )
}

/// The choice that names `device` in the resolved config (`cpu` or `cuda`).
pub fn choice(device: &Device) -> DeviceChoice {
    if device.is_cuda() {
        DeviceChoice::Cuda
    } else {
        DeviceChoice::Cpu
    }
}

/// A short name for messages (`cpu` or `cuda`).
pub fn name(device: &Device) -> &'static str {
    choice(device).as_str()
}
