//! A convolution's `im2col` and matrix product as one CPU op, so that candle's autograd never
//! holds the gradient of the columns.
//!
//! Composed (`Cols` then `matmul`), the backward of a convolution made candle's autograd
//! allocate, zero and add into a gradient of the columns `[C·kh·kw, B·Ho·Wo]` (9× the input's
//! size for a 3×3 kernel: 3.6 M values for the CNN's second convolution at batch 128) before
//! col2im folded it back: `memset` and candle's single-threaded `add` were ~29 % of a CNN
//! training step (issue 20's profile). [`ConvCols`] computes `y = W·cols` in its forward pass
//! (the same gemm call as candle's `matmul`, so the same bits) and in its backward pass
//! `dW = dy·colsᵀ` (the columns recomputed) and `dx = col2im(Wᵀ·dy)` — the products candle's
//! `matmul` backward computes, so gradients are bit-identical to the composition's. The input's
//! gradient is skipped when the input is not tracked (the first layer's images).

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};

use super::cpu_op::{cpu_fwd, FloatOp, Gate};
use super::im2col::{im2col, Cols, ConvGeom, Dir};
use super::par::zeros;
use crate::fused::gemm::{matmul_on, Mat};

/// `x [C, B, H, W]`, `w [O, C, kh, kw]` → `W [O, C·kh·kw] · im2col(x)` as `[O, B, Ho, Wo]`.
#[derive(Clone, Copy, Debug)]
pub struct ConvCols(pub ConvGeom);

/// candle's CPU thread count for its gemm calls (`RAYON_NUM_THREADS` or the physical cores),
/// read once: candle re-reads `/proc/cpuinfo` on every call when the variable is unset.
fn gemm_threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(candle_core::utils::get_num_threads)
}

impl FloatOp for ConvCols {
    const NAME: &'static str = "probe-conv";

    fn shape(&self, l: &[&Layout]) -> candle_core::Result<Shape> {
        let g = self.0;
        let b = g.check_input(l[0].shape())?;
        let (o, c, kh, kw) = l[1].shape().dims4()?;
        if (c, kh, kw) != (g.c, g.kh, g.kw) {
            candle_core::bail!(
                "probe-conv: weight {:?} for the geometry {g:?}",
                l[1].dims()
            )
        }
        Ok(Shape::from((o, b, g.out_h(), g.out_w())))
    }

    fn forward<T: Gate>(&self, ins: &[&[T]], dims: &[&[usize]]) -> Vec<T> {
        let g = self.0;
        let (b, o) = (dims[0][1], dims[1][0]);
        let (m, n, k) = (o, b * g.l(), g.k());
        let cols = im2col(&g, b, ins[0]); // [K, B·L]
        let w = ins[1]; // [O, K]
        let mut y = zeros(m * n, T::zero());
        // `y = w·cols` with candle 0.11's CPU `matmul` arguments (`fused::gemm::matmul_on`), so
        // the values are candle's; `shape` rules out operands of the wrong length.
        let w = Mat {
            data: w,
            rs: k,
            cs: 1,
        };
        let cols = Mat {
            data: &cols[..],
            rs: n,
            cs: 1,
        };
        matmul_on(&mut y, w, cols, (m, n, k), gemm_threads());
        y
    }
}

impl CustomOp2 for ConvCols {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        cpu_fwd(self, &[(s1, l1), (s2, l2)])
    }

    /// `dx = col2im(Wᵀ·dy)` (when `x` is tracked) and `dW = dy·colsᵀ`, with the columns
    /// recomputed from `x`.
    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let g = self.0;
        let (x_tracked, w_tracked) = (x.track_op(), w.track_op());
        let (x, w) = (x.detach(), w.detach());
        let o = w.dim(0)?;
        let dy = dy.contiguous()?;
        let dy = dy.reshape((o, dy.elem_count() / o.max(1)))?; // [O, B·L]
        let dw = if w_tracked {
            let cols = x.contiguous()?.apply_op1_no_bwd(&Cols(g, Dir::Im2Col))?; // [K, B·L]
            Some(dy.matmul(&cols.t()?)?.reshape(w.shape())?)
        } else {
            None
        };
        let dx = if x_tracked {
            let dcols = w.reshape((o, g.k()))?.t()?.matmul(&dy)?; // [K, B·L]
            Some(dcols.apply_op1_no_bwd(&Cols(g, Dir::Col2Im))?)
        } else {
            None
        };
        Ok((dx, dw))
    }
}
