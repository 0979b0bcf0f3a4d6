//! Normalisations written with differentiable candle ops (candle 0.11's fused `layer_norm` has no
//! backward; on the CPU, layer norm is one op with its own backward, [`super::rowwise`]): layer norm over the last dimension and batch norm over every dimension but the
//! channel dimension 1, both with PyTorch's definitions (biased variance inside the normalisation,
//! ε = 1e-5; batch norm's running variance uses the unbiased estimate, momentum 0.1).

use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{Tensor, Var, D};

use super::cpu_op::cpu_float;
use super::param::{named, ParamInit};
use super::rowwise;
use crate::Result;

/// PyTorch's default ε for both normalisations.
pub const EPS: f64 = 1e-5;

/// `(x − mean) / √(var + eps) · γ + β` over the last dimension of `x [..., d]`; `γ`, `β` are `[d]`.
pub fn layer_norm(x: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<Tensor> {
    if cpu_float(x) {
        return rowwise::layer_norm(x, gamma, beta, eps);
    }
    layer_norm_composed(x, gamma, beta, eps)
}

/// [`layer_norm`] composed of candle ops (any device; the reference of the CPU op).
pub fn layer_norm_composed(x: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let xc = x.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
    let xn = xc.broadcast_div(&(var + eps)?.sqrt()?)?;
    Ok(xn.broadcast_mul(gamma)?.broadcast_add(beta)?)
}

/// `nn.LayerNorm(d)`: `weight` (γ, ones) and `bias` (β, zeros).
#[derive(Debug)]
pub struct LayerNorm {
    /// γ `[d]`.
    pub weight: Var,
    /// β `[d]`.
    pub bias: Var,
}

impl LayerNorm {
    /// γ = 1, β = 0 (draws nothing from the stream).
    pub fn new(p: &ParamInit, d: usize) -> Result<Self> {
        Ok(Self {
            weight: p.constant(d, 1.0)?,
            bias: p.constant(d, 0.0)?,
        })
    }

    /// Normalises the last dimension of `x`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        layer_norm(x, self.weight.as_tensor(), self.bias.as_tensor(), EPS)
    }

    /// `prefix.weight`, `prefix.bias`.
    pub fn named_vars(&self, prefix: &str) -> Vec<(String, Var)> {
        vec![
            named(prefix, "weight", &self.weight),
            named(prefix, "bias", &self.bias),
        ]
    }
}

/// `nn.BatchNorm1d` / `nn.BatchNorm2d` over channel dimension 1 of `[B, C]` or `[B, C, H, W]`.
///
/// Training: normalises with the batch's mean and biased variance per channel and updates the
/// running statistics `r ← 0.9·r + 0.1·batch` (the variance unbiased: × n/(n−1), n values per
/// channel). Evaluation: normalises with the running statistics. The running statistics are model
/// state (saved in checkpoints) but not trainable.
#[derive(Debug)]
pub struct BatchNorm {
    /// γ `[C]`.
    pub weight: Var,
    /// β `[C]`.
    pub bias: Var,
    /// Running mean `[C]` (starts at 0).
    pub running_mean: Var,
    /// Running variance `[C]` (starts at 1).
    pub running_var: Var,
}

/// PyTorch's default batch-norm momentum.
pub const BN_MOMENTUM: f64 = 0.1;

impl BatchNorm {
    /// Batch norm over `c` channels.
    pub fn new(p: &ParamInit, c: usize) -> Result<Self> {
        Ok(Self {
            weight: p.constant(c, 1.0)?,
            bias: p.constant(c, 0.0)?,
            running_mean: p.constant(c, 0.0)?,
            running_var: p.constant(c, 1.0)?,
        })
    }

    /// Normalises `x` (`[B, C]` or `[B, C, H, W]`) in training or evaluation mode.
    pub fn forward(&self, x: &Tensor, training: bool) -> Result<Tensor> {
        let y = self.forward_cm(&x.transpose(0, 1)?.contiguous()?, training)?;
        Ok(y.transpose(0, 1)?.contiguous()?)
    }

    /// Normalises a channel-major `x [C, …]` (the CNN's `[C, B, H, W]` maps): every statistic
    /// and every gradient reduction runs over contiguous rows of `[C, n]`.
    pub fn forward_cm(&self, x: &Tensor, training: bool) -> Result<Tensor> {
        let shape = x.shape().clone();
        let c = x.dim(0)?;
        let n = x.elem_count() / c.max(1);
        let x = x.reshape((c, n))?;
        let xn = if training {
            let mean = x.mean_keepdim(1)?; // [C, 1]
            let xc = x.broadcast_sub(&mean)?;
            let var = xc.sqr()?.mean_keepdim(1)?; // [C, 1], biased
            let unbias = if n > 1 {
                n as f64 / (n - 1) as f64
            } else {
                1.0
            };
            let m = BN_MOMENTUM;
            let rm = self.running_mean.as_tensor();
            let rv = self.running_var.as_tensor();
            let new_rm = ((rm * (1.0 - m))? + (mean.detach().flatten_all()? * m)?)?;
            let new_rv = ((rv * (1.0 - m))? + (var.detach().flatten_all()? * (m * unbias))?)?;
            self.running_mean.set(&new_rm)?;
            self.running_var.set(&new_rv)?;
            xc.broadcast_div(&(var + EPS)?.sqrt()?)?
        } else {
            let rm = self.running_mean.as_tensor().reshape((c, 1))?;
            let rv = self.running_var.as_tensor().reshape((c, 1))?;
            x.broadcast_sub(&rm)?.broadcast_div(&(rv + EPS)?.sqrt()?)?
        };
        let g = self.weight.as_tensor().reshape((c, 1))?;
        let b = self.bias.as_tensor().reshape((c, 1))?;
        Ok(xn.broadcast_mul(&g)?.broadcast_add(&b)?.reshape(shape)?)
    }

    /// `prefix.weight`, `prefix.bias` (trainable).
    pub fn named_vars(&self, prefix: &str) -> Vec<(String, Var)> {
        vec![
            named(prefix, "weight", &self.weight),
            named(prefix, "bias", &self.bias),
        ]
    }

    /// `prefix.running_mean`, `prefix.running_var` (state, not trained).
    pub fn named_buffers(&self, prefix: &str) -> Vec<(String, Var)> {
        vec![
            named(prefix, "running_mean", &self.running_mean),
            named(prefix, "running_var", &self.running_var),
        ]
    }
}

/// A model's train/eval switch (PyTorch's `module.train()` / `module.eval()`), shared by its layers.
/// Starts in training mode, as PyTorch modules do.
#[derive(Debug)]
pub struct TrainFlag(AtomicBool);

impl Default for TrainFlag {
    fn default() -> Self {
        Self(AtomicBool::new(true))
    }
}

impl TrainFlag {
    /// Whether the model is in training mode.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
    /// Switches between training (`true`) and evaluation (`false`).
    pub fn set(&self, training: bool) {
        self.0.store(training, Ordering::Relaxed)
    }
}
