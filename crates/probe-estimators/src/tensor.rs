//! The binned estimators' tensor entry points: a candle tensor `[n, …]` (each sample flattened;
//! any float dtype) on any device. On a CUDA device (feature `cuda`) probe's kernels compute the
//! counts there and only the entropy terms come back; elsewhere the tensor is converted to host
//! `f32` and the CPU reference runs. `f64` activations are rounded to `f32` first on every device.
//!
//! This module is the one place that chooses between the two, so the CPU code (`binned`,
//! `counts`) and the kernels (`cuda`, which build on `counts`' types) import one way only.

use candle_core::Tensor;

use crate::binned::{binned_mi, BinnedMi};
use crate::binning::Binning;
use crate::counts::{binned_counts, host_f32, neuron_histograms, BinnedCounts, NeuronHistograms};
use crate::error::Result;
use crate::shape::samples_shape;

/// [`binned_mi`] on a tensor of shape `[n, ...]` (each sample flattened to `d` values) of any float
/// dtype on any device. On a CUDA device (feature `cuda`) probe's kernels compute it there and only
/// the entropy terms come back (`binned_counts_tensor`; the result is bit-identical to the CPU's
/// unless two binned rows collide in their 122-bit keys, see the `cuda` module); elsewhere the
/// tensor is converted to `f32` and copied to host memory. `f64` activations are rounded to `f32`
/// before binning on every device. Errors on a rank-0 tensor, a non-float dtype, or as
/// [`binned_mi`].
pub fn binned_mi_tensor(
    t: &Tensor,
    binning: &Binning,
    x_ids: &[u32],
    y: &[u32],
) -> Result<BinnedMi> {
    let (n, d) = samples_shape(t)?;
    #[cfg(feature = "cuda")]
    if t.device().is_cuda() {
        return Ok(binned_counts_tensor(t, binning, x_ids, y)?.mi());
    }
    binned_mi(&host_f32(t)?, n, d, binning, x_ids, y)
}

/// [`binned_counts`] of a tensor `[n, …]` (each sample flattened; any float dtype): on a CUDA
/// device by probe's kernels (the activations stay there; only the terms come back), elsewhere on
/// the CPU. `f64` activations are rounded to `f32` first, on every device.
pub fn binned_counts_tensor(
    t: &Tensor,
    binning: &Binning,
    x_ids: &[u32],
    y: &[u32],
) -> Result<BinnedCounts> {
    let (n, d) = samples_shape(t)?;
    #[cfg(feature = "cuda")]
    if t.device().is_cuda() {
        return crate::cuda::binned_counts(t, n, d, binning, x_ids, y);
    }
    binned_counts(&host_f32(t)?, n, d, binning, x_ids, y)
}

/// [`neuron_histograms`] of a tensor `[n, …]` on its device (CUDA kernel for a CUDA tensor).
pub fn neuron_histograms_tensor(t: &Tensor, binning: &Binning) -> Result<NeuronHistograms> {
    let (n, d) = samples_shape(t)?;
    #[cfg(feature = "cuda")]
    if t.device().is_cuda() {
        return crate::cuda::neuron_histograms(t, n, d, binning);
    }
    neuron_histograms(&host_f32(t)?, n, d, binning)
}
