//! A fully connected layer `y = x Wᵀ + b` with PyTorch's layout (`weight [out, in]`, `bias [out]`),
//! applied to the last dimension of `x [..., in]`.
//!
//! On the CPU the bias is added by [`AddBias`], whose backward sums the gradient's rows into the
//! bias gradient in one contiguous pass. candle 0.11's `broadcast_add` backward reduces over the
//! leading dimension with its generic strided reduction, which was ~11 % of a Transformer training
//! step (`perf`, issue 20). Values are the same as `broadcast_add`'s (one f32 addition per
//! element); the bias gradient sums the rows in fixed chunks of rows (the chunks' sums added in
//! order), so it agrees with candle's to rounding and is the same at every thread count. Both
//! passes split their rows over rayon's pool (`par`).

use candle_core::{bail, Layout, Shape, Tensor, Var};

use super::cpu_op::{float_op, FloatOp, Gate};
use super::par::{split_rows, sum_rows_by, zeros};

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
        Some(b) if y.device().is_cpu() && b.rank() == 1 => {
            y.apply_op2(&b.contiguous()?, AddBias)?
        }
        Some(b) => y.broadcast_add(b)?,
        None => y,
    };
    let mut out = lead;
    out.push(w.dim(0)?);
    Ok(y.reshape(out)?)
}

/// `y [rows, n] + b [n]` on the CPU; the backward passes the gradient to `y` and its row sums
/// ([`SumRows`]) to `b`.
#[derive(Clone, Copy, Debug)]
pub struct AddBias;

fn add_rows<T: candle_core::WithDType>(y: &[T], b: &[T]) -> Vec<T> {
    let n = b.len();
    let mut out = zeros(y.len(), T::zero());
    split_rows(&mut out, n, |first, out| {
        for (o, row) in out.chunks_exact_mut(n).zip(y[first * n..].chunks_exact(n)) {
            for ((o, &a), &c) in o.iter_mut().zip(row).zip(b) {
                *o = a + c;
            }
        }
    });
    out
}

impl FloatOp for AddBias {
    const NAME: &'static str = "add-bias";

    fn shape(&self, l: &[&Layout]) -> candle_core::Result<Shape> {
        let (_, n) = l[0].shape().dims2()?;
        if l[1].dims() != [n] {
            bail!("add-bias: bias {:?} for rows of {n}", l[1].dims())
        }
        Ok(l[0].shape().clone())
    }

    fn forward<T: Gate>(&self, x: &[&[T]], _: &[&[usize]]) -> Vec<T> {
        match x[1].len() {
            0 => x[0].to_vec(),
            _ => add_rows(x[0], x[1]),
        }
    }

    /// The gradient itself to `y`, its row sums ([`SumRows`], no host copy) to `b`.
    fn backward(
        &self,
        _: &[&Tensor],
        _: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Vec<Tensor>> {
        let db = grad.contiguous()?.apply_op1_no_bwd(&SumRows)?;
        Ok(vec![grad.clone(), db])
    }
}

float_op!(2: AddBias);

/// `g [rows, n]` → `[n]`, the sum of the rows: accumulated row by row from zero in fixed chunks
/// of rows, the chunks' sums added in order (`par::sum_rows_by`: the same at every thread count).
#[derive(Clone, Copy, Debug)]
pub struct SumRows;

fn sum_rows<T: candle_core::WithDType>(g: &[T], n: usize) -> Vec<T> {
    sum_rows_by(g.len() / n, n, n, |rows, acc: &mut [T]| {
        for row in g[rows.start * n..rows.end * n].chunks_exact(n) {
            for (a, &v) in acc.iter_mut().zip(row) {
                *a += v;
            }
        }
    })
}

impl FloatOp for SumRows {
    const NAME: &'static str = "sum-rows";

    fn shape(&self, l: &[&Layout]) -> candle_core::Result<Shape> {
        let (_, n) = l[0].shape().dims2()?;
        Ok(Shape::from(n))
    }

    fn forward<T: Gate>(&self, x: &[&[T]], dims: &[&[usize]]) -> Vec<T> {
        match dims[0][1] {
            0 => Vec::new(),
            n => sum_rows(x[0], n),
        }
    }
}

float_op!(1: SumRows);
