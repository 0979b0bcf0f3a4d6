//! `--device auto|cpu|cuda`: picks the candle device a run uses.

use crate::error::{bail, Result};
use candle_core::Device;

/// The device for `choice` (`auto` = CUDA when compiled in and present, else CPU).
pub fn resolve(choice: &str) -> Result<Device> {
    match choice {
        "cpu" => Ok(Device::Cpu),
        "cuda" => cuda(),
        "auto" => {
            if cfg!(feature = "cuda") && candle_core::utils::cuda_is_available() {
                cuda()
            } else {
                Ok(Device::Cpu)
            }
        }
        other => bail!("invalid device {other:?}; expected \"auto\", \"cpu\" or \"cuda\""),
    }
}

#[cfg(feature = "cuda")]
fn cuda() -> Result<Device> {
    use crate::error::Context;
    Device::new_cuda(0)
        .context("cannot open CUDA device 0 (is a GPU and its driver present?); use --device cpu")
}

#[cfg(not(feature = "cuda"))]
fn cuda() -> Result<Device> {
    bail!(
        "this probe was built without CUDA support; rebuild with `cargo build --release --features cuda` \
         (needs the CUDA toolkit) or use --device cpu"
    )
}

/// A short name for messages and the resolved config.
pub fn name(device: &Device) -> &'static str {
    if device.is_cuda() {
        "cuda"
    } else {
        "cpu"
    }
}
