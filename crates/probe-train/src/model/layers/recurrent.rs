//! LSTM and GRU cells with PyTorch's equations, gate order and parameter layout
//! (`weight_ih [G·H, in]`, `weight_hh [G·H, H]`, `bias_ih`, `bias_hh`; G = 4 for the LSTM with
//! gates i, f, g, o, G = 3 for the GRU with r, z, n):
//!
//! - LSTM: `[i f g o] = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh`; `c' = σ(f)·c + σ(i)·tanh(g)`,
//!   `h' = σ(o)·tanh(c')`.
//! - GRU: `r = σ(x_r + h_r)`, `z = σ(x_z + h_z)`, `n = tanh(x_n + r·h_n)`, `h' = (1 − z)·n + z·h`,
//!   where `x_· = (x W_ihᵀ + b_ih)_·` and `h_· = (h W_hhᵀ + b_hh)_·`.
//!
//! The input projection `gx = x W_ihᵀ + b_ih` does not depend on the state; callers compute it
//! and pass it in (the RNN computes it step by step: slicing one projection of all steps costs a
//! full-size zero-padded gradient per step in the backward pass).
//!
//! On the CPU (f32, f64) the elementwise part of a step is one op ([`super::cell`]: same values,
//! one pass forward and backward); elsewhere, and as the reference, the composition of candle ops
//! ([`lstm_step_composed`], [`gru_step_composed`]).

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use super::cell::{gru_cell, lstm_cell};
use super::cpu_op::cpu_float;
use super::linear::linear;
use crate::Result;

/// Which recurrent cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CellKind {
    /// Long short-term memory (Hochreiter & Schmidhuber), PyTorch's `nn.LSTM`.
    Lstm,
    /// Gated recurrent unit (Cho et al.), PyTorch's `nn.GRU`.
    Gru,
}

impl CellKind {
    /// Gates per hidden unit: 4 (LSTM) or 3 (GRU).
    pub fn gates(self) -> usize {
        match self {
            CellKind::Lstm => 4,
            CellKind::Gru => 3,
        }
    }
}

fn sigmoid(x: &Tensor) -> Result<Tensor> {
    Ok(candle_nn::ops::sigmoid(x)?)
}

/// One LSTM step: `gx = x W_ihᵀ + b_ih` `[B, 4H]`, state `h`, `c` `[B, H]` → `(h', c')`.
pub fn lstm_step(
    gx: &Tensor,
    h: &Tensor,
    c: &Tensor,
    w_hh: &Tensor,
    b_hh: &Tensor,
) -> Result<(Tensor, Tensor)> {
    if !cpu_float(gx) {
        return lstm_step_composed(gx, h, c, w_hh, b_hh);
    }
    let gates = (gx + linear(h, w_hh, Some(b_hh))?)?; // [B, 4H]
    lstm_cell(&gates, c)
}

/// [`lstm_step`] composed of candle ops (any device; the reference of the fused cell).
pub fn lstm_step_composed(
    gx: &Tensor,
    h: &Tensor,
    c: &Tensor,
    w_hh: &Tensor,
    b_hh: &Tensor,
) -> Result<(Tensor, Tensor)> {
    let hd = h.dim(1)?;
    let gates = (gx + linear(h, w_hh, Some(b_hh))?)?; // [B, 4H]
    let i = sigmoid(&gates.narrow(1, 0, hd)?)?;
    let f = sigmoid(&gates.narrow(1, hd, hd)?)?;
    let g = gates.narrow(1, 2 * hd, hd)?.tanh()?;
    let o = sigmoid(&gates.narrow(1, 3 * hd, hd)?)?;
    let c2 = ((f * c)? + (i * g)?)?;
    let h2 = (o * c2.tanh()?)?;
    Ok((h2, c2))
}

/// One GRU step: `gx = x W_ihᵀ + b_ih` `[B, 3H]`, state `h` `[B, H]` → `h'`.
pub fn gru_step(gx: &Tensor, h: &Tensor, w_hh: &Tensor, b_hh: &Tensor) -> Result<Tensor> {
    if !cpu_float(gx) {
        return gru_step_composed(gx, h, w_hh, b_hh);
    }
    let gh = linear(h, w_hh, Some(b_hh))?; // [B, 3H]
    gru_cell(gx, &gh, h)
}

/// [`gru_step`] composed of candle ops (any device; the reference of the fused cell).
pub fn gru_step_composed(gx: &Tensor, h: &Tensor, w_hh: &Tensor, b_hh: &Tensor) -> Result<Tensor> {
    let hd = h.dim(1)?;
    let gh = linear(h, w_hh, Some(b_hh))?; // [B, 3H]
    let r = sigmoid(&(gx.narrow(1, 0, hd)? + gh.narrow(1, 0, hd)?)?)?;
    let z = sigmoid(&(gx.narrow(1, hd, hd)? + gh.narrow(1, hd, hd)?)?)?;
    let n = (gx.narrow(1, 2 * hd, hd)? + (r * gh.narrow(1, 2 * hd, hd)?)?)?.tanh()?;
    // (1 − z)·n + z·h = n + z·(h − n)
    Ok((&n + (z * (h - &n)?)?)?)
}
