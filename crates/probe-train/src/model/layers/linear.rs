//! A fully connected layer `y = x Wᵀ + b` with PyTorch's layout (`weight [out, in]`, `bias [out]`),
//! applied to the last dimension of `x [..., in]`.
//!
//! On the CPU the bias is added by [`AddBias`], whose backward sums the gradient's rows into the
//! bias gradient in one contiguous pass. candle 0.11's `broadcast_add` backward reduces over the
//! leading dimension with its generic strided reduction, which was ~11 % of a Transformer training
//! step (`perf`, issue 20). Values are the same as `broadcast_add`'s (one f32 addition per
//! element; the rows summed in order).

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor, Var};

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

fn rows_of<'a, T>(v: &'a [T], l: &Layout, what: &str) -> candle_core::Result<&'a [T]> {
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => bail!("{what}: the input must be contiguous"),
    }
}

fn add_rows<T: candle_core::WithDType>(y: &[T], b: &[T]) -> Vec<T> {
    let mut out = Vec::with_capacity(y.len());
    for row in y.chunks_exact(b.len()) {
        out.extend(row.iter().zip(b).map(|(&a, &c)| a + c));
    }
    out
}

impl CustomOp2 for AddBias {
    fn name(&self) -> &'static str {
        "probe-add-bias"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (_, n) = l1.shape().dims2()?;
        if l2.dims() != [n] {
            bail!("add-bias: bias {:?} for rows of {n}", l2.dims())
        }
        if n == 0 {
            return Ok((s1.clone(), l1.shape().clone()));
        }
        let out = match (s1, s2) {
            (CpuStorage::F32(y), CpuStorage::F32(b)) => CpuStorage::F32(add_rows(
                rows_of(y, l1, "add-bias")?,
                rows_of(b, l2, "add-bias")?,
            )),
            (CpuStorage::F64(y), CpuStorage::F64(b)) => CpuStorage::F64(add_rows(
                rows_of(y, l1, "add-bias")?,
                rows_of(b, l2, "add-bias")?,
            )),
            (a, _) => bail!("add-bias: dtype {:?} is not supported", a.dtype()),
        };
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        _y: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let db = grad.contiguous()?.apply_op1_no_bwd(&SumRows)?;
        Ok((Some(grad.clone()), Some(db)))
    }
}

/// `g [rows, n]` → `[n]`, the sum of the rows, accumulated row by row from zero.
#[derive(Clone, Copy, Debug)]
pub struct SumRows;

fn sum_rows<T: candle_core::WithDType>(g: &[T], n: usize) -> Vec<T> {
    let mut acc = vec![T::zero(); n];
    for row in g.chunks_exact(n) {
        for (a, &v) in acc.iter_mut().zip(row) {
            *a += v;
        }
    }
    acc
}

impl CustomOp1 for SumRows {
    fn name(&self) -> &'static str {
        "probe-sum-rows"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (_, n) = l.shape().dims2()?;
        let out = match s {
            _ if n == 0 => return Ok((s.clone(), Shape::from(0))),
            CpuStorage::F32(g) => CpuStorage::F32(sum_rows(rows_of(g, l, "sum-rows")?, n)),
            CpuStorage::F64(g) => CpuStorage::F64(sum_rows(rows_of(g, l, "sum-rows")?, n)),
            other => bail!("sum-rows: dtype {:?} is not supported", other.dtype()),
        };
        Ok((out, Shape::from(n)))
    }
}
