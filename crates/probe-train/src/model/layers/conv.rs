//! 2-D convolution with a PyTorch-layout weight `[O, C, kh, kw]`:
//! `y[b, o, y, x] = bias[o] + Σ_{c,i,j} W[o, c, i, j] · xpad[b, c, y·s + i, x·s + j]`.
//!
//! The CNN keeps its maps channel-major, `[C, B, H, W]` ([`conv2d_cm`]): on the CPU the
//! convolution is then `im2col` + one matrix product whose result is already `[O, B, Ho, Wo]`
//! ([`super::im2col`]; in f32 and f64 the two are one op, [`super::conv_op`]), and per-channel
//! reductions (bias and batch-norm gradients) run over contiguous rows, where candle is fast (its
//! reductions over leading dimensions are a scalar loop).
//! On other devices candle's own `conv2d` runs (whose GPU backward is fine). [`conv2d`] is the
//! usual `[B, C, H, W]` form.

use candle_core::{DType, Tensor, Var};

use super::conv_op::ConvCols;
use super::im2col::{Cols, ConvGeom, Dir};
use super::param::{named, ParamInit};
use crate::Result;

/// `x [C, B, H, W]` convolved with `w [O, C, kh, kw]` (stride `stride`, zero padding `pad`), no
/// bias: `[O, B, Ho, Wo]`.
pub fn conv2d_cm(x: &Tensor, w: &Tensor, stride: usize, pad: usize) -> Result<Tensor> {
    let (c, b, h, wd) = x.dims4()?;
    let (o, _, kh, kw) = w.dims4()?;
    if !x.device().is_cpu() {
        let y = x.transpose(0, 1)?.conv2d(w, pad, stride, 1, 1)?;
        return Ok(y.transpose(0, 1)?.contiguous()?);
    }
    let g = ConvGeom {
        c,
        h,
        w: wd,
        kh,
        kw,
        stride,
        pad,
    };
    if matches!(x.dtype(), DType::F32 | DType::F64) {
        // im2col and the product as one op (`conv_op`): the same values and gradients, without
        // the columns' gradient in candle's autograd.
        return Ok(x.contiguous()?.apply_op2(&w.contiguous()?, ConvCols(g))?); // [O, B, Ho, Wo]
    }
    let cols = x.contiguous()?.apply_op1(Cols(g, Dir::Im2Col))?; // [K, B·L]
    let y = w.reshape((o, g.k()))?.matmul(&cols)?; // [O, B·L]
    Ok(y.reshape((o, b, g.out_h(), g.out_w()))?)
}

/// `x [B, C, H, W]` convolved with `w [O, C, kh, kw]`, no bias: `[B, O, Ho, Wo]`.
pub fn conv2d(x: &Tensor, w: &Tensor, stride: usize, pad: usize) -> Result<Tensor> {
    let y = conv2d_cm(&x.transpose(0, 1)?, w, stride, pad)?;
    Ok(y.transpose(0, 1)?.contiguous()?)
}

/// `nn.Conv2d(C, O, k, stride, padding)` with a square kernel.
#[derive(Debug)]
pub struct Conv2d {
    /// `[O, C, k, k]`.
    pub weight: Var,
    /// `[O]`, if the layer has a bias.
    pub bias: Option<Var>,
    /// Stride.
    pub stride: usize,
    /// Zero padding on every side.
    pub pad: usize,
}

impl Conv2d {
    /// A `c → o` convolution with a `k×k` kernel (fan_in = c·k·k).
    pub fn new(
        p: &mut ParamInit,
        c: usize,
        o: usize,
        k: usize,
        stride: usize,
        pad: usize,
        bias: bool,
    ) -> Result<Self> {
        let fan_in = c * k * k;
        let weight = p.weight((o, c, k, k), fan_in)?;
        let bias = if bias { Some(p.bias(o, fan_in)?) } else { None };
        Ok(Self {
            weight,
            bias,
            stride,
            pad,
        })
    }

    /// Channel-major `x [C, B, H, W]` → `[O, B, Ho, Wo]`.
    pub fn forward_cm(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.forward_cm_no_bias(x)?;
        match &self.bias {
            Some(b) => self.add_bias_cm(&y, b.as_tensor()),
            None => Ok(y),
        }
    }

    /// [`Conv2d::forward_cm`] without the bias.
    pub fn forward_cm_no_bias(&self, x: &Tensor) -> Result<Tensor> {
        conv2d_cm(x, self.weight.as_tensor(), self.stride, self.pad)
    }

    /// `y [O, B, Ho, Wo] + b[o]` (the bias of [`Conv2d::forward_cm`]).
    pub fn add_bias_cm(&self, y: &Tensor, b: &Tensor) -> Result<Tensor> {
        Ok(y.broadcast_add(&b.reshape(((), 1, 1, 1))?)?)
    }

    /// `prefix.weight`, `prefix.bias`.
    pub fn named_vars(&self, prefix: &str) -> Vec<(String, Var)> {
        let mut v = vec![named(prefix, "weight", &self.weight)];
        if let Some(b) = &self.bias {
            v.push(named(prefix, "bias", b));
        }
        v
    }
}
