//! The fused trainer's large matrix products: the `gemm` crate (the kernels candle's CPU matmul
//! uses), on every rayon thread. Layers of at least [`GEMM_MIN_MACS`] multiply-adds per sample
//! take this path, smaller ones the fused loops of [`kernels`](super::kernels), which beat a
//! general matrix product on a 12-bit-network layer but not on a 784 × 1024 one. Its results
//! depend on the CPU's instruction set (gemm picks its kernels at run time, with FMA), as
//! candle's do; for a given machine they are deterministic. [`matmul`] is also the product of the
//! convolution op (`model::layers::conv_op`), in `f32` and `f64`: its arguments are those of
//! candle 0.11's CPU `matmul`, so the results are candle's.

use num_traits::{One, Zero};

/// Multiply-adds per sample (fan_in · fan_out) from which a layer's products use gemm.
pub(super) const GEMM_MIN_MACS: usize = 16_384;

/// A matrix operand: `data[r * rs + c * cs]` is element (r, c).
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a, T = f32> {
    pub data: &'a [T],
    pub rs: usize,
    pub cs: usize,
}

impl<T> Mat<'_, T> {
    /// Whether every element of a `rows × cols` view lies inside `data`.
    fn fits(&self, rows: usize, cols: usize) -> bool {
        rows == 0 || cols == 0 || (rows - 1) * self.rs + (cols - 1) * self.cs < self.data.len()
    }
}

/// `c = a · b` with `a` `m × k`, `b` `k × n` and `c` `m × n` row-major and contiguous. Does
/// nothing for empty shapes; an operand too short for its view is a programming error caught
/// before any unsafe access (the product is skipped and `false` returned).
pub(super) fn matmul(c: &mut [f32], a: Mat<'_>, b: Mat<'_>, m: usize, n: usize, k: usize) -> bool {
    matmul_on(c, a, b, (m, n, k), rayon::current_num_threads())
}

/// [`matmul`] for `f32` or `f64` on `threads` threads of rayon's pool (1: the calling thread).
pub(crate) fn matmul_on<T: Copy + Zero + One + 'static>(
    c: &mut [T],
    a: Mat<'_, T>,
    b: Mat<'_, T>,
    (m, n, k): (usize, usize, usize),
    threads: usize,
) -> bool {
    if c.len() < m * n || !a.fits(m, k) || !b.fits(k, n) {
        return false;
    }
    if m == 0 || n == 0 || k == 0 {
        c[..m * n].fill(T::zero());
        return true;
    }
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: every view lies inside its slice (checked above); `c` is exclusively borrowed and
    // does not overlap `a` or `b` (shared borrows of other buffers).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            T::zero(),
            T::one(),
            false,
            false,
            false,
            parallelism,
        );
    }
    true
}
