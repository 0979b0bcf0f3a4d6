//! The fused trainer's large matrix products: the `gemm` crate (the kernels candle's CPU matmul
//! uses), on every rayon thread. Layers of at least [`GEMM_MIN_MACS`] multiply-adds per sample
//! take this path, smaller ones the fused loops of [`kernels`](super::kernels), which beat a
//! general matrix product on a 12-bit-network layer but not on a 784 × 1024 one. Its results
//! depend on the CPU's instruction set (gemm picks its kernels at run time, with FMA), as
//! candle's do; for a given machine they are deterministic.

/// Multiply-adds per sample (fan_in · fan_out) from which a layer's products use gemm.
pub(super) const GEMM_MIN_MACS: usize = 16_384;

/// A matrix operand: `data[r * rs + c * cs]` is element (r, c).
#[derive(Clone, Copy)]
pub(super) struct Mat<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

impl Mat<'_> {
    /// Whether every element of a `rows × cols` view lies inside `data`.
    fn fits(&self, rows: usize, cols: usize) -> bool {
        rows == 0 || cols == 0 || (rows - 1) * self.rs + (cols - 1) * self.cs < self.data.len()
    }
}

/// `c = a · b` with `a` `m × k`, `b` `k × n` and `c` `m × n` row-major and contiguous. Does
/// nothing for empty shapes; an operand too short for its view is a programming error caught
/// before any unsafe access (the product is skipped and `false` returned).
pub(super) fn matmul(c: &mut [f32], a: Mat<'_>, b: Mat<'_>, m: usize, n: usize, k: usize) -> bool {
    if c.len() < m * n || !a.fits(m, k) || !b.fits(k, n) {
        return false;
    }
    if m == 0 || n == 0 || k == 0 {
        c[..m * n].fill(0.0);
        return true;
    }
    let threads = rayon::current_num_threads();
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
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
    true
}
