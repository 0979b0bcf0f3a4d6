//! `x · wᵀ` for a weight stored `[out, in]` (PyTorch's layout), with a backward pass that does
//! only the work a linear layer needs.
//!
//! Written as `x.matmul(&w.t())`, candle 0.11's backward (1) always computes the input's gradient
//! `g · w`, a full matrix product, even when `x` is a data batch that needs none, and (2) produces
//! `w`'s gradient as `[in, out]` and adds it through the transpose into a zero `[out, in]` buffer:
//! a strided, scalar, cache-hostile pass over the whole weight. On the Saxe MNIST MLP (784→1024
//! first layer) those two made up about 40% of a CPU training step (BENCHMARKS.md, "Saxe MNIST
//! MLP"). [`matmul_wt`] is a [`CustomOp2`] whose forward is the very same storage-level product
//! (bit-identical results) and whose backward returns `∂w = gᵀ · x` directly as a contiguous
//! `[out, in]` tensor and `∂x = g · w` only when `x` is tracked (a variable or computed from
//! one).

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};

/// `x · wᵀ`: `x` is `[rows, in]`, `w` is `[out, in]`, the result `[rows, out]`.
pub fn matmul_wt(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    let (rows, inp) = x.dims2()?;
    let (out, w_in) = w.dims2()?;
    if inp != w_in {
        return Err(candle_core::Error::ShapeMismatchBinaryOp {
            lhs: x.shape().clone(),
            rhs: w.shape().clone(),
            op: "matmul_wt",
        });
    }
    if rows == 0 || out == 0 || inp == 0 {
        // gemm needs non-empty operands; the plain product handles the degenerate shapes.
        return x.matmul(&w.t()?);
    }
    x.apply_op2(w, MatmulWt)
}

/// The op of [`matmul_wt`].
struct MatmulWt;

/// The `(batch, m, n, k)` of the product and `w`'s layout seen as `wᵀ` (`[in, out]`).
fn plan(l1: &Layout, l2: &Layout) -> Result<((usize, usize, usize, usize), Layout)> {
    let (m, k) = l1.shape().dims2()?;
    let (n, _) = l2.shape().dims2()?;
    Ok(((1, m, n, k), l2.transpose(0, 1)?))
}

impl CustomOp2 for MatmulWt {
    fn name(&self) -> &'static str {
        "matmul-wt"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (bmnk, wt) = plan(l1, l2)?;
        Ok((s1.matmul(s2, bmnk, l1, &wt)?, Shape::from((bmnk.1, bmnk.2))))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let (bmnk, wt) = plan(l1, l2)?;
        Ok((s1.matmul(s2, bmnk, l1, &wt)?, Shape::from((bmnk.1, bmnk.2))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let dx = if x.track_op() {
            Some(grad.matmul(w)?)
        } else {
            None
        };
        let dw = if w.track_op() {
            Some(grad.t()?.matmul(x)?)
        } else {
            None
        };
        Ok((dx, dw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn naive(x: &[f32], w: &[f32], rows: usize, inp: usize, out: usize) -> Vec<f64> {
        let mut y = vec![0.0f64; rows * out];
        for r in 0..rows {
            for o in 0..out {
                y[r * out + o] = (0..inp)
                    .map(|i| x[r * inp + i] as f64 * w[o * inp + i] as f64)
                    .sum();
            }
        }
        y
    }

    #[test]
    fn forward_is_the_plain_product_bit_for_bit() -> Result<()> {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1., (37, 53), &dev)?;
        let w = Tensor::randn(0f32, 1., (29, 53), &dev)?;
        let ours: Vec<f32> = matmul_wt(&x, &w)?.flatten_all()?.to_vec1()?;
        let plain: Vec<f32> = x.matmul(&w.t()?)?.flatten_all()?.to_vec1()?;
        assert_eq!(ours, plain);
        let want = naive(
            &x.flatten_all()?.to_vec1()?,
            &w.flatten_all()?.to_vec1()?,
            37,
            53,
            29,
        );
        for (a, b) in ours.iter().zip(&want) {
            assert!((*a as f64 - b).abs() < 1e-4, "{a} vs {b}");
        }
        Ok(())
    }

    #[test]
    fn gradients_match_the_closed_form_and_skip_untracked_inputs() -> Result<()> {
        let dev = Device::Cpu;
        let (rows, inp, out) = (19, 23, 11);
        let x = Tensor::randn(0f32, 1., (rows, inp), &dev)?;
        let w = Var::randn(0f32, 1., (out, inp), &dev)?;
        let c = Tensor::randn(0f32, 1., (rows, out), &dev)?; // loss = Σ c ⊙ (x wᵀ)
        let grads = (matmul_wt(&x, w.as_tensor())? * &c)?
            .sum_all()?
            .backward()?;
        assert!(grads.get(&x).is_none(), "a data batch gets no gradient");
        // ∂loss/∂w[o, i] = Σ_r c[r, o] x[r, i]
        let (xv, cv): (Vec<f32>, Vec<f32>) =
            (x.flatten_all()?.to_vec1()?, c.flatten_all()?.to_vec1()?);
        let dw: Vec<f32> = grads.get(w.as_tensor()).map_or(Ok(vec![]), |g| {
            assert!(g.is_contiguous());
            g.flatten_all()?.to_vec1()
        })?;
        assert_eq!(dw.len(), out * inp);
        for o in 0..out {
            for i in 0..inp {
                let want: f64 = (0..rows)
                    .map(|r| cv[r * out + o] as f64 * xv[r * inp + i] as f64)
                    .sum();
                assert!((dw[o * inp + i] as f64 - want).abs() < 1e-4);
            }
        }
        // A tracked input gets ∂loss/∂x = c · w, equal to the plain product's gradient.
        let xv_var = Var::from_tensor(&x)?;
        let g1 = (matmul_wt(xv_var.as_tensor(), w.as_tensor())? * &c)?
            .sum_all()?
            .backward()?;
        let g2 = (xv_var.as_tensor().matmul(&w.as_tensor().t()?)? * &c)?
            .sum_all()?
            .backward()?;
        let a: Vec<f32> = g1
            .get(xv_var.as_tensor())
            .map_or(Ok(vec![]), |g| g.flatten_all()?.to_vec1())?;
        let b: Vec<f32> = g2
            .get(xv_var.as_tensor())
            .map_or(Ok(vec![]), |g| g.flatten_all()?.to_vec1())?;
        assert_eq!(a.len(), rows * inp);
        assert_eq!(a, b);
        Ok(())
    }
}
