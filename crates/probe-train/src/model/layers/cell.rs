//! The GRU and LSTM cells' elementwise part as one op each on the CPU, forward and backward.
//!
//! Composed from candle ops, one GRU step is ~12 elementwise ops, 6 `narrow` copies and their
//! backward (zero-padded gradients, sums): 29 % of a GRU training step was elementwise maps and
//! 16 % `memmove` (issue 20's profile). Here a step's gates are read once and written once:
//!
//! - [`GruCell`]: `(gx [B, 3H], gh [B, 3H], h [B, H])` → `h' [B, H]` with `r = σ(gx_r + gh_r)`,
//!   `z = σ(gx_z + gh_z)`, `n = tanh(gx_n + r·gh_n)`, `h' = n + z·(h − n)`;
//! - [`LstmCell`]: `(gates [B, 4H], c [B, H])` → `[h' | c'] [B, 2H]` with gates `i f g o`,
//!   `c' = σ(f)·c + σ(i)·tanh(g)`, `h' = σ(o)·tanh(c')`.
//!
//! The forward values are bit-identical to the composition in `recurrent.rs` (the same f32/f64
//! operations in the same order: candle's sigmoid is `1 / (exp(−x) + 1)`, its tanh the standard
//! library's). The backward recomputes the gates from the inputs and writes every gradient in one
//! pass; it sums in a different order than candle's autograd, so gradients agree to rounding
//! (tests: `tests/model_cells.rs` against the composition, `tests/model_finite_diff.rs` against
//! central differences). Other devices and dtypes use the composition.

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp2, CustomOp3, Layout, Shape, Tensor, WithDType};
use num_traits::Float;

use crate::Result;

fn slice_of<'a, T>(v: &'a [T], l: &Layout, what: &str) -> candle_core::Result<&'a [T]> {
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => bail!("{what}: the input must be contiguous"),
    }
}

/// candle's sigmoid, `1 / (exp(−x) + 1)`.
fn sigmoid<T: Float>(x: T) -> T {
    (x.neg().exp() + T::one()).recip()
}

/// `[B, G·H]` as `B` rows of `G·H`, checked against `[B, H]` state rows.
fn check_rows(
    what: &str,
    gates: &Layout,
    g: usize,
    state: &[&Layout],
) -> candle_core::Result<(usize, usize)> {
    let (b, gh) = gates.shape().dims2()?;
    if gh % g != 0 {
        bail!("{what}: gates of width {gh} are not {g}·H")
    }
    let hd = gh / g;
    for l in state {
        if l.dims() != [b, hd] {
            bail!("{what}: state {:?} for gates {:?}", l.dims(), gates.dims())
        }
    }
    Ok((b, hd))
}

/// One GRU step's elementwise part (see the module header); `gx`, `gh`, `h` contiguous.
#[derive(Clone, Copy, Debug)]
pub struct GruCell;

fn gru_fwd<T: Float>(gx: &[T], gh: &[T], h: &[T], hd: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(h.len());
    for ((x, y), h) in gx
        .chunks_exact(3 * hd)
        .zip(gh.chunks_exact(3 * hd))
        .zip(h.chunks_exact(hd))
    {
        for j in 0..hd {
            let r = sigmoid(x[j] + y[j]);
            let z = sigmoid(x[hd + j] + y[hd + j]);
            let n = (x[2 * hd + j] + r * y[2 * hd + j]).tanh();
            out.push(n + z * (h[j] - n));
        }
    }
    out
}

/// The gradients `(d gx, d gh, d h)` of one GRU step for the output gradient `d`.
fn gru_bwd<T: Float>(gx: &[T], gh: &[T], h: &[T], d: &[T], hd: usize) -> [Vec<T>; 3] {
    let (mut dgx, mut dgh, mut dh) = (
        vec![T::zero(); gx.len()],
        vec![T::zero(); gh.len()],
        Vec::with_capacity(h.len()),
    );
    let rows = gx
        .chunks_exact(3 * hd)
        .zip(gh.chunks_exact(3 * hd))
        .zip(h.chunks_exact(hd))
        .zip(d.chunks_exact(hd));
    for ((((x, y), h), d), (dx, dy)) in rows.zip(
        dgx.chunks_exact_mut(3 * hd)
            .zip(dgh.chunks_exact_mut(3 * hd)),
    ) {
        for j in 0..hd {
            let r = sigmoid(x[j] + y[j]);
            let z = sigmoid(x[hd + j] + y[hd + j]);
            let n = (x[2 * hd + j] + r * y[2 * hd + j]).tanh();
            let one = T::one();
            // h' = n + z·(h − n): ∂h'/∂n = 1 − z, ∂h'/∂z = h − n, ∂h'/∂h = z.
            let da_n = d[j] * (one - z) * (one - n * n);
            let da_z = d[j] * (h[j] - n) * z * (one - z);
            let da_r = da_n * y[2 * hd + j] * r * (one - r);
            dx[j] = da_r;
            dx[hd + j] = da_z;
            dx[2 * hd + j] = da_n;
            dy[j] = da_r;
            dy[hd + j] = da_z;
            dy[2 * hd + j] = da_n * r;
            dh.push(d[j] * z);
        }
    }
    [dgx, dgh, dh]
}

impl CustomOp3 for GruCell {
    fn name(&self) -> &'static str {
        "probe-gru-cell"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, hd) = check_rows("gru-cell", l1, 3, &[l3])?;
        if l2.dims() != l1.dims() {
            bail!("gru-cell: gh {:?} for gx {:?}", l2.dims(), l1.dims())
        }
        let w = "gru-cell";
        let out = match (s1, s2, s3) {
            (CpuStorage::F32(x), CpuStorage::F32(y), CpuStorage::F32(h)) => {
                CpuStorage::F32(gru_fwd(
                    slice_of(x, l1, w)?,
                    slice_of(y, l2, w)?,
                    slice_of(h, l3, w)?,
                    hd,
                ))
            }
            (CpuStorage::F64(x), CpuStorage::F64(y), CpuStorage::F64(h)) => {
                CpuStorage::F64(gru_fwd(
                    slice_of(x, l1, w)?,
                    slice_of(y, l2, w)?,
                    slice_of(h, l3, w)?,
                    hd,
                ))
            }
            (a, _, _) => bail!("gru-cell: dtype {:?} is not supported", a.dtype()),
        };
        Ok((out, Shape::from((b, hd))))
    }

    fn bwd(
        &self,
        gx: &Tensor,
        gh: &Tensor,
        h: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let hd = h.dim(1)?;
        let [dgx, dgh, dh] = match gx.dtype() {
            candle_core::DType::F32 => grads3::<f32>(gx, gh, h, grad, hd)?,
            candle_core::DType::F64 => grads3::<f64>(gx, gh, h, grad, hd)?,
            other => bail!("gru-cell: dtype {other:?} is not supported"),
        };
        Ok((Some(dgx), Some(dgh), Some(dh)))
    }
}

fn host<T: WithDType>(t: &Tensor) -> candle_core::Result<Vec<T>> {
    t.flatten_all()?.to_vec1::<T>()
}

fn grads3<T: WithDType + Float>(
    gx: &Tensor,
    gh: &Tensor,
    h: &Tensor,
    grad: &Tensor,
    hd: usize,
) -> candle_core::Result<[Tensor; 3]> {
    let [a, b, c] = gru_bwd(
        &host::<T>(gx)?,
        &host::<T>(gh)?,
        &host::<T>(h)?,
        &host::<T>(grad)?,
        hd,
    );
    Ok([
        Tensor::from_vec(a, gx.shape(), gx.device())?,
        Tensor::from_vec(b, gh.shape(), gh.device())?,
        Tensor::from_vec(c, h.shape(), h.device())?,
    ])
}

/// One LSTM step's elementwise part (see the module header); `gates`, `c` contiguous; the output
/// is `[h' | c']`, `[B, 2H]`.
#[derive(Clone, Copy, Debug)]
pub struct LstmCell;

fn lstm_fwd<T: Float>(gates: &[T], c: &[T], hd: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(2 * c.len());
    for (g, c) in gates.chunks_exact(4 * hd).zip(c.chunks_exact(hd)) {
        let start = out.len();
        out.resize(start + 2 * hd, T::zero());
        let (h2, c2) = out[start..].split_at_mut(hd);
        for j in 0..hd {
            let i = sigmoid(g[j]);
            let f = sigmoid(g[hd + j]);
            let gg = g[2 * hd + j].tanh();
            let o = sigmoid(g[3 * hd + j]);
            c2[j] = f * c[j] + i * gg;
            h2[j] = o * c2[j].tanh();
        }
    }
    out
}

/// The gradients `(d gates, d c)` of one LSTM step for the output gradient `d = [d h' | d c']`.
fn lstm_bwd<T: Float>(gates: &[T], c: &[T], d: &[T], hd: usize) -> [Vec<T>; 2] {
    let (mut dg, mut dc) = (vec![T::zero(); gates.len()], Vec::with_capacity(c.len()));
    for (((g, c), d), dg) in gates
        .chunks_exact(4 * hd)
        .zip(c.chunks_exact(hd))
        .zip(d.chunks_exact(2 * hd))
        .zip(dg.chunks_exact_mut(4 * hd))
    {
        let (dh2, dc2) = d.split_at(hd);
        for j in 0..hd {
            let one = T::one();
            let i = sigmoid(g[j]);
            let f = sigmoid(g[hd + j]);
            let gg = g[2 * hd + j].tanh();
            let o = sigmoid(g[3 * hd + j]);
            let c2 = f * c[j] + i * gg;
            let tc = c2.tanh();
            // h' = o·tanh(c'): the gradient reaching c' adds through tanh.
            let dct = dc2[j] + dh2[j] * o * (one - tc * tc);
            dg[j] = dct * gg * i * (one - i);
            dg[hd + j] = dct * c[j] * f * (one - f);
            dg[2 * hd + j] = dct * i * (one - gg * gg);
            dg[3 * hd + j] = dh2[j] * tc * o * (one - o);
            dc.push(dct * f);
        }
    }
    [dg, dc]
}

impl CustomOp2 for LstmCell {
    fn name(&self) -> &'static str {
        "probe-lstm-cell"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, hd) = check_rows("lstm-cell", l1, 4, &[l2])?;
        let w = "lstm-cell";
        let out = match (s1, s2) {
            (CpuStorage::F32(g), CpuStorage::F32(c)) => {
                CpuStorage::F32(lstm_fwd(slice_of(g, l1, w)?, slice_of(c, l2, w)?, hd))
            }
            (CpuStorage::F64(g), CpuStorage::F64(c)) => {
                CpuStorage::F64(lstm_fwd(slice_of(g, l1, w)?, slice_of(c, l2, w)?, hd))
            }
            (a, _) => bail!("lstm-cell: dtype {:?} is not supported", a.dtype()),
        };
        Ok((out, Shape::from((b, 2 * hd))))
    }

    fn bwd(
        &self,
        gates: &Tensor,
        c: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let hd = c.dim(1)?;
        let [dg, dc] = match gates.dtype() {
            candle_core::DType::F32 => grads2::<f32>(gates, c, grad, hd)?,
            candle_core::DType::F64 => grads2::<f64>(gates, c, grad, hd)?,
            other => bail!("lstm-cell: dtype {other:?} is not supported"),
        };
        Ok((Some(dg), Some(dc)))
    }
}

fn grads2<T: WithDType + Float>(
    gates: &Tensor,
    c: &Tensor,
    grad: &Tensor,
    hd: usize,
) -> candle_core::Result<[Tensor; 2]> {
    let [a, b] = lstm_bwd(&host::<T>(gates)?, &host::<T>(c)?, &host::<T>(grad)?, hd);
    Ok([
        Tensor::from_vec(a, gates.shape(), gates.device())?,
        Tensor::from_vec(b, c.shape(), c.device())?,
    ])
}

/// Whether the fused cells run for tensors of this device and dtype (CPU, f32 or f64).
pub fn fused_cells(t: &Tensor) -> bool {
    t.device().is_cpu() && matches!(t.dtype(), candle_core::DType::F32 | candle_core::DType::F64)
}

/// [`GruCell`]: `(gx [B, 3H], gh [B, 3H], h [B, H])` → `h' [B, H]` (CPU, f32 or f64).
pub fn gru_cell(gx: &Tensor, gh: &Tensor, h: &Tensor) -> Result<Tensor> {
    Ok(gx
        .contiguous()?
        .apply_op3(&gh.contiguous()?, &h.contiguous()?, GruCell)?)
}

/// [`LstmCell`]: `(gates [B, 4H], c [B, H])` → `(h', c')`, each `[B, H]` (CPU, f32 or f64).
pub fn lstm_cell(gates: &Tensor, c: &Tensor) -> Result<(Tensor, Tensor)> {
    let hd = c.dim(1)?;
    let hc = gates.contiguous()?.apply_op2(&c.contiguous()?, LstmCell)?; // [B, 2H]
    Ok((hc.narrow(1, 0, hd)?, hc.narrow(1, hd, hd)?))
}
