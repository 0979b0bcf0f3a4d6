//! `relu(x) = max(x, 0)` on the CPU with a one-pass backward.
//!
//! candle 0.11's ReLU backward is five passes over the tensor (`zeros_like`, `ge`, `to_dtype`, a
//! product, and the sum into the gradient); for the CNN's first convolution output that is
//! 6 MB each, and candle's elementwise maps were 18 % of a CNN training step (issue 20's profile).
//! Here the backward is one pass, `dx = dy · [x ≥ 0]` (the same products as candle's, so the same
//! bits), and the forward gives candle's values (NaN and `−0` give `+0`). Other devices and
//! dtypes use candle's `relu`. Tests: `tests/model_rowwise.rs` (values and gradients bit-identical
//! to candle's op in f32 and f64).

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};

use super::cpu_op::{cpu_float, slice_of};
use crate::Result;

/// `x` where `x > 0`, else `+0` (NaN and `−0` give `+0`, as candle's `relu` on the CPU).
fn positive<T: candle_core::WithDType>(x: &[T]) -> Vec<T> {
    let zero = T::zero();
    x.iter().map(|&v| if v > zero { v } else { zero }).collect()
}

/// `max(x, 0)`, with [`ReluGrad`] as its backward.
#[derive(Clone, Copy, Debug)]
pub struct Relu;

impl CustomOp1 for Relu {
    fn name(&self) -> &'static str {
        "probe-relu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let out = match s {
            CpuStorage::F32(x) => CpuStorage::F32(positive(slice_of(x, l, "relu")?)),
            CpuStorage::F64(x) => CpuStorage::F64(positive(slice_of(x, l, "relu")?)),
            other => bail!("relu: dtype {:?} is not supported", other.dtype()),
        };
        Ok((out, l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, dy: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(dy.contiguous()?.apply_op2_no_bwd(x, &ReluGrad)?))
    }
}

/// `(dy, x)` → `dy · [x ≥ 0]` (1 or 0 as a factor, as candle's ReLU backward).
#[derive(Clone, Copy, Debug)]
pub struct ReluGrad;

fn masked<T: candle_core::WithDType>(dy: &[T], x: &[T]) -> Vec<T> {
    let (one, zero) = (T::one(), T::zero());
    dy.iter()
        .zip(x)
        .map(|(&g, &v)| g * if v >= zero { one } else { zero })
        .collect()
}

impl CustomOp2 for ReluGrad {
    fn name(&self) -> &'static str {
        "probe-relu-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        if l1.dims() != l2.dims() {
            bail!(
                "relu-grad: gradient {:?} for input {:?}",
                l1.dims(),
                l2.dims()
            )
        }
        let w = "relu-grad";
        let out = match (s1, s2) {
            (CpuStorage::F32(g), CpuStorage::F32(x)) => {
                CpuStorage::F32(masked(slice_of(g, l1, w)?, slice_of(x, l2, w)?))
            }
            (CpuStorage::F64(g), CpuStorage::F64(x)) => {
                CpuStorage::F64(masked(slice_of(g, l1, w)?, slice_of(x, l2, w)?))
            }
            (a, _) => bail!("relu-grad: dtype {:?} is not supported", a.dtype()),
        };
        Ok((out, l1.shape().clone()))
    }
}

/// `max(x, 0)`, differentiable; one-pass backward on f32/f64 CPU tensors.
pub fn relu(x: &Tensor) -> Result<Tensor> {
    if !cpu_float(x) {
        return Ok(x.relu()?);
    }
    Ok(x.contiguous()?.apply_op1(Relu)?)
}
