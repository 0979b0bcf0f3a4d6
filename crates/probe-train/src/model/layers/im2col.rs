//! `im2col` / `col2im` as candle custom ops on the CPU: the convolution becomes one batched matrix
//! product (`W [O, C·kh·kw] @ cols [B, C·kh·kw, Ho·Wo]`) whose forward and backward run in candle's
//! multithreaded gemm.
//!
//! Why: candle 0.11's CPU `conv2d` backward goes through `conv_transpose2d` and a `conv2d` with the
//! batch as channels, both direct loops; on a 2-core machine a 32→64 channel 3×3 convolution on
//! 14×14 maps took ~10× PyTorch's time per step (BENCHMARKS.md). With im2col the only loops of our
//! own are two memory copies, and they are each other's adjoint: the backward of im2col ([`Cols`]
//! with [`Dir::Im2Col`]) is col2im (summing overlapping patches) and vice versa, so the autograd
//! graph stays exact.
//!
//! Layouts are channel-major, which keeps every per-channel reduction of the layers around it
//! (bias and batch-norm gradients) on contiguous rows: the input is `xc [C, B, H, W]`, and
//! `cols[(c·kh + i)·kw + j, (b·Ho + y)·Wo + x] = xpad[c, b, y·s + i, x·s + j]`, where `xpad` is
//! the input zero-padded by `pad` on each side. The row index matches the flattening of a PyTorch
//! weight `[O, C, kh, kw]` to `[O, C·kh·kw]`, so `W @ cols` is the output `[O, B, Ho, Wo]`.

use std::ops::AddAssign;

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp1, Layout, Shape, Tensor};

use super::cpu_op::slice_of;
use super::par::{split_blocks, zeros};

/// The geometry of a 2-D convolution (square padding and stride, no dilation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    /// Input channels.
    pub c: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Stride (both directions).
    pub stride: usize,
    /// Zero padding on every side.
    pub pad: usize,
}

impl ConvGeom {
    /// Output height, `(h + 2·pad − kh) / stride + 1`.
    pub fn out_h(&self) -> usize {
        (self.h + 2 * self.pad - self.kh) / self.stride + 1
    }
    /// Output width.
    pub fn out_w(&self) -> usize {
        (self.w + 2 * self.pad - self.kw) / self.stride + 1
    }
    /// Rows of a column matrix, `c·kh·kw`.
    pub fn k(&self) -> usize {
        self.c * self.kh * self.kw
    }
    /// Columns of a column matrix, `Ho·Wo`.
    pub fn l(&self) -> usize {
        self.out_h() * self.out_w()
    }
    fn image(&self) -> usize {
        self.c * self.h * self.w
    }
    pub(crate) fn check_input(&self, shape: &Shape) -> candle_core::Result<usize> {
        let (c, b, h, w) = shape.dims4()?;
        if (c, h, w) != (self.c, self.h, self.w) {
            bail!(
                "im2col: input [{c}, {b}, {h}, {w}] (C, B, H, W) does not match the geometry {:?}",
                self
            )
        }
        Ok(b)
    }
}

/// For output column `x` and kernel column `j`, the input column is `x·s + j − pad`; the range of
/// `x` for which it lies inside `0..w`.
fn valid_cols(g: &ConvGeom, j: usize) -> (usize, usize) {
    let ow = g.out_w();
    // x·s + j ≥ pad  ⇔  x ≥ ceil((pad − j) / s)
    let lo = if j >= g.pad {
        0
    } else {
        (g.pad - j).div_ceil(g.stride)
    };
    // x·s + j − pad ≤ w − 1  ⇔  x ≤ (w − 1 + pad − j) / s
    let hi = if g.w + g.pad > j {
        ((g.w - 1 + g.pad - j) / g.stride + 1).min(ow)
    } else {
        0
    };
    (lo.min(hi), hi)
}

/// The row of the input feeding output row `y` at kernel row `i`, if inside the image.
fn input_row(g: &ConvGeom, y: usize, i: usize) -> Option<usize> {
    let r = y * g.stride + i;
    (r >= g.pad && r - g.pad < g.h).then(|| r - g.pad)
}

/// The rows `rows` of the column matrix `[K, B·L]` of `x` (`[C, B, H, W]`); `out` holds exactly
/// those rows.
fn im2col_rows<T: Copy + Default>(
    g: &ConvGeom,
    batch: usize,
    x: &[T],
    rows: std::ops::Range<usize>,
    out: &mut [T],
) {
    let (oh, ow) = (g.out_h(), g.out_w());
    let bl = batch * oh * ow;
    for (r, k) in rows.enumerate() {
        let (c, i, j) = (k / (g.kh * g.kw), k / g.kw % g.kh, k % g.kw);
        let (lo, hi) = valid_cols(g, j);
        for b in 0..batch {
            let img = &x[(c * batch + b) * g.h * g.w..(c * batch + b + 1) * g.h * g.w];
            for y in 0..oh {
                let start = r * bl + (b * oh + y) * ow;
                let dst = &mut out[start..start + ow];
                let Some(ir) = input_row(g, y, i) else {
                    dst.fill(T::default());
                    continue;
                };
                let src = &img[ir * g.w..(ir + 1) * g.w];
                dst[..lo].fill(T::default());
                dst[hi..].fill(T::default());
                if g.stride == 1 {
                    let off = lo + j - g.pad;
                    dst[lo..hi].copy_from_slice(&src[off..off + hi - lo]);
                } else {
                    for (xo, d) in dst[lo..hi].iter_mut().enumerate() {
                        *d = src[(xo + lo) * g.stride + j - g.pad];
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col_rows`] for the channels `chans`: columns `[K, B·L]` summed back into
/// `out` = those channels of the image `[len, B, H, W]`.
fn col2im_channels<T: Copy + Default + std::ops::AddAssign>(
    g: &ConvGeom,
    batch: usize,
    cols: &[T],
    chans: std::ops::Range<usize>,
    out: &mut [T],
) {
    let (oh, ow) = (g.out_h(), g.out_w());
    let (bl, plane) = (batch * oh * ow, g.h * g.w);
    out.fill(T::default());
    for (n, c) in chans.enumerate() {
        for i in 0..g.kh {
            for j in 0..g.kw {
                let k = (c * g.kh + i) * g.kw + j;
                let (lo, hi) = valid_cols(g, j);
                for b in 0..batch {
                    let img = &mut out[(n * batch + b) * plane..(n * batch + b + 1) * plane];
                    for y in 0..oh {
                        let Some(ir) = input_row(g, y, i) else {
                            continue;
                        };
                        let start = k * bl + (b * oh + y) * ow;
                        let src = &cols[start + lo..start + hi];
                        let dst = &mut img[ir * g.w..(ir + 1) * g.w];
                        if g.stride == 1 {
                            let off = lo + j - g.pad;
                            for (d, &v) in dst[off..off + hi - lo].iter_mut().zip(src) {
                                *d += v;
                            }
                        } else {
                            for (xo, &v) in src.iter().enumerate() {
                                dst[(xo + lo) * g.stride + j - g.pad] += v;
                            }
                        }
                    }
                }
            }
        }
    }
}

pub(crate) fn im2col<T: Copy + Default + Send + Sync>(
    g: &ConvGeom,
    batch: usize,
    x: &[T],
) -> Vec<T> {
    let mut out = zeros(g.k() * batch * g.l(), T::default());
    split_blocks(&mut out, g.k(), batch * g.l(), |rows, chunk| {
        im2col_rows(g, batch, x, rows, chunk)
    });
    out
}

fn col2im<T: Copy + Default + Send + Sync + AddAssign>(
    g: &ConvGeom,
    batch: usize,
    cols: &[T],
) -> Vec<T> {
    let mut out = zeros(batch * g.image(), T::default());
    split_blocks(&mut out, g.c, batch * g.h * g.w, |chans, chunk| {
        col2im_channels(g, batch, cols, chans, chunk)
    });
    out
}

/// Which way a [`Cols`] op rearranges: im2col or its adjoint, col2im.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// `[C, B, H, W]` → `[C·kh·kw, B·Ho·Wo]` (see the module header).
    Im2Col,
    /// `[C·kh·kw, B·Ho·Wo]` → `[C, B, H, W]`, summing overlapping patches.
    Col2Im,
}

/// im2col or col2im of a geometry as a candle op; the backward of each is the other.
#[derive(Clone, Copy, Debug)]
pub struct Cols(pub ConvGeom, pub Dir);

impl Cols {
    /// The op whose forward is this one's backward.
    fn adjoint(self) -> Self {
        let dir = match self.1 {
            Dir::Im2Col => Dir::Col2Im,
            Dir::Col2Im => Dir::Im2Col,
        };
        Cols(self.0, dir)
    }

    /// `im2col` or `col2im`, the start of the op's dtype error.
    fn short_name(&self) -> &'static str {
        match self.1 {
            Dir::Im2Col => "im2col",
            Dir::Col2Im => "col2im",
        }
    }

    /// The batch size of an input of `shape`, checked against the geometry, and the output shape.
    fn plan(&self, shape: &Shape) -> candle_core::Result<(usize, Shape)> {
        let g = self.0;
        match self.1 {
            Dir::Im2Col => {
                let b = g.check_input(shape)?;
                Ok((b, Shape::from((g.k(), b * g.l()))))
            }
            Dir::Col2Im => {
                let (k, n) = shape.dims2()?;
                if k != g.k() || n % g.l() != 0 {
                    bail!("col2im: input [{k}, {n}] does not match the geometry {g:?}")
                }
                let b = n / g.l();
                Ok((b, Shape::from((g.c, b, g.h, g.w))))
            }
        }
    }

    /// The output elements for a batch of `b` inputs `x`.
    fn run<T: Copy + Default + Send + Sync + AddAssign>(&self, b: usize, x: &[T]) -> Vec<T> {
        match self.1 {
            Dir::Im2Col => im2col(&self.0, b, x),
            Dir::Col2Im => col2im(&self.0, b, x),
        }
    }
}

impl CustomOp1 for Cols {
    fn name(&self) -> &'static str {
        match self.1 {
            Dir::Im2Col => "probe-im2col",
            Dir::Col2Im => "probe-col2im",
        }
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, shape) = self.plan(l.shape())?;
        let out = match s {
            CpuStorage::F32(v) => CpuStorage::F32(self.run(b, slice_of(v, l, self.name())?)),
            CpuStorage::F64(v) => CpuStorage::F64(self.run(b, slice_of(v, l, self.name())?)),
            other => bail!(
                "{}: dtype {:?} is not supported",
                self.short_name(),
                other.dtype()
            ),
        };
        Ok((out, shape))
    }

    fn bwd(
        &self,
        _arg: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(grad.contiguous()?.apply_op1(self.adjoint())?))
    }
}
