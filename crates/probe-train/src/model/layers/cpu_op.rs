//! What the CPU custom ops of the layers share: a contiguous input's elements in `cpu_fwd`, a
//! tensor's elements in `bwd`, and gradients shaped like the inputs they belong to.

use candle_core::{bail, DType, Layout, Storage, Tensor, WithDType};

/// The elements of a contiguous input of `cpu_fwd` (`what` names the op in the error).
pub(crate) fn slice_of<'a, T>(v: &'a [T], l: &Layout, what: &str) -> candle_core::Result<&'a [T]> {
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => bail!("{what}: the input must be contiguous"),
    }
}

/// The elements of a CPU tensor in order, copied once (in a backward pass).
pub(crate) fn host<T: WithDType>(t: &Tensor) -> candle_core::Result<Vec<T>> {
    let (storage, layout) = t.storage_and_layout();
    match (&*storage, layout.contiguous_offsets()) {
        (Storage::Cpu(s), Some((a, b))) => Ok(s.as_slice::<T>()?[a..b].to_vec()),
        _ => t.flatten_all()?.to_vec1::<T>(),
    }
}

/// Gradients `g` as tensors shaped and placed like the inputs `like`.
pub(crate) fn back<T: WithDType, const N: usize>(
    g: [Vec<T>; N],
    like: [&Tensor; N],
) -> candle_core::Result<[Tensor; N]> {
    let mut out = Vec::with_capacity(N);
    for (v, t) in g.into_iter().zip(like) {
        out.push(Tensor::from_vec(v, t.shape(), t.device())?);
    }
    out.try_into()
        .map_err(|_| candle_core::Error::Msg("custom op: gradient count".into()))
}

/// Whether the CPU ops run for tensors like `t` (CPU, f32 or f64); others use candle's ops.
pub(crate) fn cpu_float(t: &Tensor) -> bool {
    t.device().is_cpu() && matches!(t.dtype(), DType::F32 | DType::F64)
}
