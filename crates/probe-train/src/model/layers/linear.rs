//! A fully connected layer `y = x Wᵀ + b` with PyTorch's layout (`weight [out, in]`, `bias [out]`),
//! applied to the last dimension of `x [..., in]`.

use candle_core::{Tensor, Var};

use super::param::{named, ParamInit};
use crate::Result;

/// `nn.Linear`.
#[derive(Debug)]
pub struct Linear {
    /// `[out, in]`.
    pub weight: Var,
    /// `[out]`, if the layer has a bias.
    pub bias: Option<Var>,
}

impl Linear {
    /// A layer `in → out` with parameters from `p` (fan_in = `in`).
    pub fn new(p: &mut ParamInit, inp: usize, out: usize, bias: bool) -> Result<Self> {
        let weight = p.weight((out, inp), inp)?;
        let bias = if bias { Some(p.bias(out, inp)?) } else { None };
        Ok(Self { weight, bias })
    }

    /// `x [..., in]` → `[..., out]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        linear(
            x,
            self.weight.as_tensor(),
            self.bias.as_ref().map(|b| b.as_tensor()),
        )
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

/// `x [..., in] Wᵀ + b`, with `w [out, in]`; the leading dimensions are folded into one matrix
/// product.
pub fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let (inp, lead) = match dims.split_last() {
        Some((&inp, lead)) => (inp, lead.to_vec()),
        None => return Err(candle_core::Error::Msg("linear: x is a scalar".into()).into()),
    };
    let rows: usize = lead.iter().product();
    let y = super::matmul_wt::matmul_wt(&x.reshape((rows, inp))?, w)?;
    let y = match b {
        Some(b) => y.broadcast_add(b)?,
        None => y,
    };
    let mut out = lead;
    out.push(w.dim(0)?);
    Ok(y.reshape(out)?)
}
