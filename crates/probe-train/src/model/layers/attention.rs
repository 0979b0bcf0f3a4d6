//! Multi-head self-attention, written with differentiable ops (candle 0.11's fused
//! `softmax_last_dim` has no backward; on the CPU the softmax is one op with its own backward,
//! [`super::rowwise`]), with TransformerLens's hook points.
//!
//! For `x [B, T, d]`, `H` heads of `dh = d / H`:
//! `q = x W_Qᵀ + b_Q` viewed `[B, T, H, dh]` (likewise k, v);
//! `scores = q·kᵀ / √dh` `[B, H, T, T]`; `pattern = softmax(scores)` over the key position;
//! `z = pattern · v` `[B, T, H, dh]`; `out = z W_Oᵀ + b_O` `[B, T, d]`. No mask (an encoder).

use candle_core::{Tensor, Var, D};

use super::cpu_op::cpu_float;
use super::linear::Linear;
use super::param::ParamInit;
use super::rowwise;
use super::Hooks;
use crate::{Error, Result};

/// Softmax over the last dimension, `exp(x − max) / Σ exp(x − max)`; the max is a constant
/// shift (detached), so the gradient is the softmax's own.
pub fn softmax_last(x: &Tensor) -> Result<Tensor> {
    if cpu_float(x) {
        return rowwise::softmax_last(x);
    }
    softmax_last_composed(x)
}

/// [`softmax_last`] composed of candle ops (any device; the reference of the CPU op).
pub fn softmax_last_composed(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let e = x.broadcast_sub(&max)?.exp()?;
    let s = e.sum_keepdim(D::Minus1)?;
    Ok(e.broadcast_div(&s)?)
}

/// Self-attention with separate q, k, v, o projections (`q.weight [d, d]`, …).
#[derive(Debug)]
pub struct Attention {
    /// Query projection.
    pub q: Linear,
    /// Key projection.
    pub k: Linear,
    /// Value projection.
    pub v: Linear,
    /// Output projection.
    pub o: Linear,
    heads: usize,
}

impl Attention {
    /// `heads` heads over `d` features (`d` must be a multiple of `heads`).
    pub fn new(p: &mut ParamInit, d: usize, heads: usize) -> Result<Self> {
        if heads == 0 || !d.is_multiple_of(heads) {
            return Err(Error::invalid(
                "model.heads",
                format!("{heads} heads do not divide d_model = {d}; choose a divisor of d_model"),
            ));
        }
        Ok(Self {
            q: Linear::new(p, d, d, true)?,
            k: Linear::new(p, d, d, true)?,
            v: Linear::new(p, d, d, true)?,
            o: Linear::new(p, d, d, true)?,
            heads,
        })
    }

    /// `x [B, T, d]` → `[B, T, d]`; reports `{prefix}.hook_q/k/v` `[B, T, H, dh]`,
    /// `{prefix}.hook_attn_scores` and `{prefix}.hook_pattern` `[B, H, T, T]`,
    /// `{prefix}.hook_z` `[B, T, H, dh]`.
    pub fn forward(&self, x: &Tensor, prefix: &str, hooks: &mut Hooks) -> Result<Tensor> {
        let (b, t, d) = x.dims3()?;
        let (h, dh) = (self.heads, d / self.heads);
        let q = self.q.forward(x)?.reshape((b, t, h, dh))?; // [B, T, H, dh]
        let k = self.k.forward(x)?.reshape((b, t, h, dh))?; // [B, T, H, dh]
        let v = self.v.forward(x)?.reshape((b, t, h, dh))?; // [B, T, H, dh]
        hooks.hook(|| format!("{prefix}.hook_q"), &q)?;
        hooks.hook(|| format!("{prefix}.hook_k"), &k)?;
        hooks.hook(|| format!("{prefix}.hook_v"), &v)?;
        let qh = q.transpose(1, 2)?.contiguous()?; // [B, H, T, dh]
        let kt = k.transpose(1, 2)?.transpose(2, 3)?.contiguous()?; // [B, H, dh, T]
        let vh = v.transpose(1, 2)?.contiguous()?; // [B, H, T, dh]
        let scores = (qh.matmul(&kt)? / (dh as f64).sqrt())?; // [B, H, T, T]
        hooks.hook(|| format!("{prefix}.hook_attn_scores"), &scores)?;
        let pattern = softmax_last(&scores)?; // [B, H, T, T]
        hooks.hook(|| format!("{prefix}.hook_pattern"), &pattern)?;
        let z = pattern.matmul(&vh)?.transpose(1, 2)?.contiguous()?; // [B, T, H, dh]
        hooks.hook(|| format!("{prefix}.hook_z"), &z)?;
        self.o.forward(&z.reshape((b, t, d))?)
    }

    /// `prefix.{q,k,v,o}.{weight,bias}`.
    pub fn named_vars(&self, prefix: &str) -> Vec<(String, Var)> {
        [
            ("q", &self.q),
            ("k", &self.k),
            ("v", &self.v),
            ("o", &self.o),
        ]
        .into_iter()
        .flat_map(|(n, l)| l.named_vars(&format!("{prefix}.{n}")))
        .collect()
    }

    /// The hook names [`Attention::forward`] reports, in order.
    pub fn hook_names(prefix: &str) -> Vec<String> {
        ["q", "k", "v", "attn_scores", "pattern", "z"]
            .iter()
            .map(|h| format!("{prefix}.hook_{h}"))
            .collect()
    }
}
