//! A CPU op whose output carries blocks only its backward pass reads, returned without them.
//!
//! The fused recurrent cells (`cell.rs`) save their gates for the backward pass behind `h'` (and
//! `c'`) in one output `[K, B, H]`. Taking `h'` out of it with `get(0)` made candle's autograd
//! pad the step's gradient back to `[K, B, H]` with zeros (`cat`: ~5 % of a GRU training step in
//! `memmove`, issue 20). [`Stashed`] returns the first `keep` blocks as the op's output and keeps
//! the whole output in the op itself, where its backward pass reads it; the op's gradient is
//! then only `[keep, B, H]` (the blocks the cells' backward reads). Values and gradients are
//! those of the wrapped op.
//!
//! ```text
//! gx.apply_op3(&gh, &h, Stashed::new(GruCell, 1))?   // [1, B, H]: h'
//! ```

use std::sync::Mutex;

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, Layout, Shape, Tensor};

use super::cpu_op::{cpu_fwd, FloatOp, Grads};

/// The op `O` (output `[K, B, H]`) returning its first `keep` blocks and keeping the whole output
/// for its backward pass.
#[derive(Debug)]
pub struct Stashed<O> {
    op: O,
    keep: usize,
    saved: Mutex<Option<Tensor>>,
}

impl<O: FloatOp> Stashed<O> {
    /// `op`, returning its output's first `keep` blocks.
    pub fn new(op: O, keep: usize) -> Self {
        Self {
            op,
            keep,
            saved: Mutex::new(None),
        }
    }

    /// Runs `op`, keeps its whole output and returns the first `keep` blocks.
    fn forward(&self, ins: &[(&CpuStorage, &Layout)]) -> candle_core::Result<(CpuStorage, Shape)> {
        let (full, shape) = cpu_fwd(&self.op, ins)?;
        let (k, b, h) = shape.dims3()?;
        if self.keep > k {
            bail!("{}: {} of {k} blocks kept", O::NAME, self.keep)
        }
        let n = self.keep * b * h;
        let (front, whole) = match full {
            CpuStorage::F32(v) => (
                CpuStorage::F32(v[..n].to_vec()),
                Tensor::from_vec(v, (k, b, h), &candle_core::Device::Cpu)?,
            ),
            CpuStorage::F64(v) => (
                CpuStorage::F64(v[..n].to_vec()),
                Tensor::from_vec(v, (k, b, h), &candle_core::Device::Cpu)?,
            ),
            other => bail!("{}: dtype {:?} is not supported", O::NAME, other.dtype()),
        };
        *self.lock()? = Some(whole);
        Ok((front, Shape::from((self.keep, b, h))))
    }

    /// The wrapped op's gradients from the kept output and the gradient of the returned blocks.
    fn grads(&self, ins: &[&Tensor], grad: &Tensor) -> candle_core::Result<Vec<Tensor>> {
        let whole = match &*self.lock()? {
            Some(t) => t.clone(),
            None => bail!("{}: backward before forward", O::NAME),
        };
        self.op.backward(ins, &whole, grad)
    }

    fn lock(&self) -> candle_core::Result<std::sync::MutexGuard<'_, Option<Tensor>>> {
        match self.saved.lock() {
            Ok(g) => Ok(g),
            Err(_) => bail!("{}: the kept output's lock is poisoned", O::NAME),
        }
    }
}

impl<O: FloatOp + Send + Sync> candle_core::CustomOp2 for Stashed<O> {
    fn name(&self) -> &'static str {
        O::NAME
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        self.forward(&[(s1, l1), (s2, l2)])
    }

    fn bwd(
        &self,
        a1: &Tensor,
        a2: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        Ok(Grads::from_grads(&self.grads(&[a1, a2], grad)?))
    }
}

impl<O: FloatOp + Send + Sync> candle_core::CustomOp3 for Stashed<O> {
    fn name(&self) -> &'static str {
        O::NAME
    }

    #[allow(clippy::too_many_arguments)]
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        self.forward(&[(s1, l1), (s2, l2), (s3, l3)])
    }

    fn bwd(
        &self,
        a1: &Tensor,
        a2: &Tensor,
        a3: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        Ok(Grads::from_grads(&self.grads(&[a1, a2, a3], grad)?))
    }
}
