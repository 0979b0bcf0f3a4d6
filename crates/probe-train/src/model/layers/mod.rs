//! Building blocks of the models: parameters with PyTorch's initialisations, linear and
//! convolution layers (im2col on the CPU), pooling, layer and batch norm, dropout, multi-head
//! attention and recurrent cells. Everything is written with differentiable candle ops (or custom
//! ops with a backward), so the autograd graph covers every parameter; the functional forms
//! (`conv2d`, `layer_norm`, `softmax_last`, `lstm_step`, `gru_step`) work in f32 and f64, which
//! the finite-difference tests use.

pub mod attention;
pub mod bias_relu;
pub mod cell;
pub mod conv;
pub mod conv_op;
mod cpu_op;
pub mod dropout;
pub mod fast_tanh;
pub mod gelu;
pub mod im2col;
pub mod linear;
pub mod matmul_wt;
pub mod norm;
mod normal;
mod par;
pub mod param;
pub mod pool;
pub mod recurrent;
pub mod relu;
pub mod rowwise;
mod stash;

use candle_core::Tensor;
use probe_capture::ActivationCache;

use crate::Result;

/// Where a forward pass reports its hook points: an optional [`ActivationCache`]. Names are built
/// only when a cache is present.
pub struct Hooks<'a> {
    cache: Option<&'a mut ActivationCache>,
}

impl<'a> Hooks<'a> {
    /// Reports to `cache`, or nowhere.
    pub fn new(cache: Option<&'a mut ActivationCache>) -> Self {
        Self { cache }
    }

    /// Reports the tensor `make()` under `name`, computing it only if the cache selects `name`
    /// (for hook-only tensors: a softmax, a transposed copy).
    pub fn hook_with(&mut self, name: &str, make: impl FnOnce() -> Result<Tensor>) -> Result<()> {
        if let Some(c) = self.cache.as_deref_mut() {
            if c.selects(name) {
                c.hook(name, &make()?)?;
            }
        }
        Ok(())
    }

    /// The logits `[B, classes]` of the classifier `head` on `x` `[B, in]`, reported as
    /// `head.hook_pre`, with `head.hook_post`, their softmax probabilities (computed only when
    /// selected).
    pub fn classify(&mut self, head: &linear::Linear, x: &Tensor) -> Result<Tensor> {
        let logits = head.forward(x)?; // [B, classes]
        self.hook(|| "head.hook_pre".into(), &logits)?;
        self.hook_with("head.hook_post", || {
            Ok(candle_nn::ops::softmax(&logits, 1)?)
        })?;
        Ok(logits)
    }

    /// Reports `t` under the name `name()`.
    pub fn hook(&mut self, name: impl FnOnce() -> String, t: &Tensor) -> Result<()> {
        if let Some(c) = self.cache.as_deref_mut() {
            c.hook(&name(), t)?;
        }
        Ok(())
    }
}
