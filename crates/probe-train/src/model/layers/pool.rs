//! Non-overlapping 2-D pooling (kernel = stride = k, PyTorch's floor mode: rows and columns that do
//! not fill a window are dropped) over the last two dimensions of `[..., H, W]`.
//!
//! On the CPU it is a pair of custom ops: [`Pool2d`] (one pass over each plane) whose backward is
//! [`Pool2dGrad`], which routes each window's gradient to its first maximum in row-major order
//! (PyTorch's choice among ties) or spreads it evenly (average). On other devices it is a reshape
//! and a reduction, whose backward is candle's own (ties there each get the full gradient).
//!
//! candle 0.11's `max_pool2d` is not used: its backward scales the gradient of each window's
//! maximum by 1/k² (it multiplies by the average of the arg-max mask instead of dividing), and its
//! CPU reductions over a non-trailing dimension run as a scalar loop.

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};
use serde::{Deserialize, Serialize};

use super::par::{split_blocks, zeros};
use crate::{Error, Result};

/// How a window is reduced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PoolType {
    /// The maximum (`nn.MaxPool2d`).
    Max,
    /// The mean (`nn.AvgPool2d`).
    Avg,
}

/// `x [..., H, W]` → `[..., ⌊H/k⌋, ⌊W/k⌋]`; `k = 1` is the identity.
pub fn pool2d(x: &Tensor, k: usize, kind: PoolType) -> Result<Tensor> {
    if k <= 1 {
        return Ok(x.clone());
    }
    let dims = x.dims();
    if dims.len() < 2 {
        return Err(Error::invalid(
            "model.pool",
            "pooling needs [..., H, W] maps",
        ));
    }
    let (h, w) = (dims[dims.len() - 2], dims[dims.len() - 1]);
    let (oh, ow) = (h / k, w / k);
    if oh == 0 || ow == 0 {
        return Err(Error::invalid(
            "model.pool",
            format!("a {k}×{k} pooling window does not fit a {h}×{w} map; use a smaller pool"),
        ));
    }
    if x.device().is_cpu() {
        return Ok(x.contiguous()?.apply_op1(Pool2d { k, kind })?);
    }
    let planes: usize = dims[..dims.len() - 2].iter().product();
    let cropped = x
        .narrow(dims.len() - 2, 0, oh * k)?
        .narrow(dims.len() - 1, 0, ow * k)?;
    let r = cropped.contiguous()?.reshape((planes, oh, k, ow, k))?;
    let r = match kind {
        PoolType::Max => r.max(4)?.max(2)?,
        PoolType::Avg => r.mean(4)?.mean(2)?,
    };
    let mut out = dims[..dims.len() - 2].to_vec();
    out.extend([oh, ow]);
    Ok(r.reshape(out)?)
}

/// The `[H, W]` planes of a contiguous `[..., H, W]` input: how many, and their size.
#[derive(Clone, Copy, Debug)]
struct Planes {
    /// The number of planes, the product of the leading dimensions.
    n: usize,
    /// Height.
    h: usize,
    /// Width.
    w: usize,
}

impl Planes {
    /// Elements per plane.
    fn len(&self) -> usize {
        self.h * self.w
    }
}

/// The planes of a contiguous `[..., H, W]` input pooled by `k`, and the output shape.
fn geometry(l: &Layout, k: usize) -> candle_core::Result<(Planes, Shape)> {
    let dims = l.dims();
    if dims.len() < 2 || l.contiguous_offsets().is_none() {
        bail!("pool2d: expected a contiguous [..., H, W] input, got {dims:?}")
    }
    let (h, w) = (dims[dims.len() - 2], dims[dims.len() - 1]);
    let mut out = dims[..dims.len() - 2].to_vec();
    out.extend([h / k, w / k]);
    let n = l.shape().elem_count() / (h * w);
    Ok((Planes { n, h, w }, Shape::from(out)))
}

fn slice<'a, T>(v: &'a [T], l: &Layout) -> &'a [T] {
    match l.contiguous_offsets() {
        Some((a, b)) => &v[a..b],
        None => &v[..0],
    }
}

/// Whether `v` replaces `best` as a window's maximum in a row-major scan: greater, or
/// incomparable (a NaN on either side), as in PyTorch's max pooling.
#[inline]
fn wins<T: PartialOrd>(v: T, best: T) -> bool {
    matches!(
        v.partial_cmp(&best),
        Some(std::cmp::Ordering::Greater) | None
    )
}

/// Window reduction of every `[H, W]` plane (see the module header); backward is [`Pool2dGrad`].
#[derive(Clone, Copy, Debug)]
pub struct Pool2d {
    /// Window size and stride.
    pub k: usize,
    /// Max or average.
    pub kind: PoolType,
}

/// Every plane of `x` pooled by `k` ([`fwd_plane`]), in parallel blocks of planes.
fn pool_fwd<T: candle_core::WithDType>(x: &[T], pl: Planes, k: usize, kind: PoolType) -> Vec<T> {
    let (oh, ow) = (pl.h / k, pl.w / k);
    let mut out = zeros(pl.n * oh * ow, T::zero());
    split_blocks(&mut out, pl.n, oh * ow, |range, chunk| {
        let planes_in = &x[range.start * pl.len()..range.end * pl.len()];
        for (p, o) in planes_in
            .chunks_exact(pl.len())
            .zip(chunk.chunks_exact_mut(oh * ow))
        {
            fwd_plane(p, o, pl.w, k, kind);
        }
    });
    out
}

/// One plane `p [H, W]` pooled into `o [H/k, W/k]`. The maximum is the first in row-major order
/// that no later value exceeds (a NaN wins over what came before it), as the window is scanned
/// row by row; the average sums in the same row-major order and then scales by 1/k².
fn fwd_plane<T: candle_core::WithDType>(p: &[T], o: &mut [T], w: usize, k: usize, kind: PoolType) {
    let ow = o.len() / (p.len() / w / k).max(1);
    let scale = T::from_f64(1.0 / (k * k) as f64);
    for (y, o_row) in o.chunks_exact_mut(ow).enumerate() {
        let rows = &p[y * k * w..(y + 1) * k * w];
        match kind {
            PoolType::Max if k == 2 => {
                let (r0, r1) = rows.split_at(w);
                for ((m, a), b) in o_row
                    .iter_mut()
                    .zip(r0.chunks_exact(2))
                    .zip(r1.chunks_exact(2))
                {
                    let mut best = a[0];
                    for v in [a[1], b[0], b[1]] {
                        if wins(v, best) {
                            best = v;
                        }
                    }
                    *m = best;
                }
            }
            PoolType::Max => {
                for (i, row) in rows.chunks_exact(w).enumerate() {
                    for (m, win) in o_row.iter_mut().zip(row.chunks_exact(k)) {
                        let mut best = if i == 0 { win[0] } else { *m };
                        for &v in win {
                            if wins(v, best) {
                                best = v;
                            }
                        }
                        *m = best;
                    }
                }
            }
            PoolType::Avg => {
                o_row.fill(T::zero());
                for row in rows.chunks_exact(w) {
                    for (m, win) in o_row.iter_mut().zip(row.chunks_exact(k)) {
                        for &v in win {
                            *m += v;
                        }
                    }
                }
                for m in o_row.iter_mut() {
                    *m *= scale;
                }
            }
        }
    }
}

impl CustomOp1 for Pool2d {
    fn name(&self) -> &'static str {
        "probe-pool2d"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (pl, shape) = geometry(l, self.k)?;
        let (k, kind) = (self.k, self.kind);
        let out = match s {
            CpuStorage::F32(v) => CpuStorage::F32(pool_fwd(slice(v, l), pl, k, kind)),
            CpuStorage::F64(v) => CpuStorage::F64(pool_fwd(slice(v, l), pl, k, kind)),
            other => bail!("pool2d: dtype {:?} is not supported", other.dtype()),
        };
        Ok((out, shape))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(arg.apply_op2_no_bwd(
            &grad.contiguous()?,
            &Pool2dGrad {
                k: self.k,
                kind: self.kind,
            },
        )?))
    }
}

/// The gradient of [`Pool2d`]: `(input [..., H, W], grad of the output)` → grad of the input.
#[derive(Clone, Copy, Debug)]
pub struct Pool2dGrad {
    /// Window size and stride.
    pub k: usize,
    /// Max or average.
    pub kind: PoolType,
}

/// The gradient of [`pool_fwd`]: `g`, the gradient of every pooled plane, routed back into
/// the planes of `x` ([`bwd_plane`]), in parallel blocks of planes.
fn pool_bwd<T: candle_core::WithDType>(
    x: &[T],
    g: &[T],
    pl: Planes,
    k: usize,
    kind: PoolType,
) -> Vec<T> {
    let (oh, ow) = (pl.h / k, pl.w / k);
    let mut out = zeros(pl.n * pl.len(), T::zero());
    split_blocks(&mut out, pl.n, pl.len(), |range, chunk| {
        let xs = &x[range.start * pl.len()..range.end * pl.len()];
        let gs = &g[range.start * oh * ow..range.end * oh * ow];
        let mut arg = vec![0usize; ow];
        for ((p, gp), o) in xs
            .chunks_exact(pl.len())
            .zip(gs.chunks_exact(oh * ow))
            .zip(chunk.chunks_exact_mut(pl.len()))
        {
            bwd_plane(p, gp, o, pl.w, k, kind, &mut arg);
        }
    });
    out
}

/// The gradient of one plane: `gp [H/k, W/k]` routed into `o [H, W]` (all zero on entry) — to
/// each window's maximum as [`fwd_plane`] picks it, or spread evenly (average). `arg` is scratch
/// space for one output row's arg-max offsets.
fn bwd_plane<T: candle_core::WithDType>(
    p: &[T],
    gp: &[T],
    o: &mut [T],
    w: usize,
    k: usize,
    kind: PoolType,
    arg: &mut [usize],
) {
    let ow = arg.len();
    let scale = T::from_f64(1.0 / (k * k) as f64);
    if ow == 0 {
        return;
    }
    for (y, g_row) in gp.chunks_exact(ow).enumerate() {
        let rows = &p[y * k * w..(y + 1) * k * w];
        let o_rows = &mut o[y * k * w..(y + 1) * k * w];
        match kind {
            PoolType::Max if k == 2 => {
                // The forward pass's 2×2 scan, writing the gradient at the winner.
                let (r0, r1) = rows.split_at(w);
                let (o0, o1) = o_rows.split_at_mut(w);
                for (xo, &gv) in g_row.iter().enumerate() {
                    let (a, b) = (&r0[2 * xo..2 * xo + 2], &r1[2 * xo..2 * xo + 2]);
                    let (mut best, mut at) = (a[0], 0);
                    for (n, v) in [(1, a[1]), (2, b[0]), (3, b[1])] {
                        if wins(v, best) {
                            (best, at) = (v, n);
                        }
                    }
                    let row = if at < 2 { &mut *o0 } else { &mut *o1 };
                    row[2 * xo + (at & 1)] += gv;
                }
            }
            PoolType::Max => {
                // The same scan as the forward pass, keeping the winner's offset i·w + x·k + j.
                for (xo, a) in arg.iter_mut().enumerate() {
                    let mut best_at = xo * k;
                    for i in 0..k {
                        for j in 0..k {
                            let at = i * w + xo * k + j;
                            if wins(rows[at], rows[best_at]) {
                                best_at = at;
                            }
                        }
                    }
                    *a = best_at;
                }
                for (&at, &gv) in arg.iter().zip(g_row) {
                    o_rows[at] += gv;
                }
            }
            PoolType::Avg => {
                for o_row in o_rows.chunks_exact_mut(w) {
                    for (win, &gv) in o_row.chunks_exact_mut(k).zip(g_row) {
                        for v in win {
                            *v += gv * scale;
                        }
                    }
                }
            }
        }
    }
}

impl CustomOp2 for Pool2dGrad {
    fn name(&self) -> &'static str {
        "probe-pool2d-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (pl, out_shape) = geometry(l1, self.k)?;
        if l2.shape() != &out_shape || l2.contiguous_offsets().is_none() {
            bail!(
                "pool2d-grad: the gradient {:?} does not match {out_shape:?}",
                l2.dims()
            )
        }
        let (k, kind) = (self.k, self.kind);
        let out = match (s1, s2) {
            (CpuStorage::F32(x), CpuStorage::F32(g)) => {
                CpuStorage::F32(pool_bwd(slice(x, l1), slice(g, l2), pl, k, kind))
            }
            (CpuStorage::F64(x), CpuStorage::F64(g)) => {
                CpuStorage::F64(pool_bwd(slice(x, l1), slice(g, l2), pl, k, kind))
            }
            (a, _) => bail!("pool2d-grad: dtype {:?} is not supported", a.dtype()),
        };
        Ok((out, l1.shape().clone()))
    }
}
