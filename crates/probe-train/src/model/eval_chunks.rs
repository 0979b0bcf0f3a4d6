//! Evaluation-mode forward passes in slices of rows, so no intermediate tensor outgrows the
//! allocator's reuse.
//!
//! probe's evaluation and capture feed a model up to 8192 samples at once (probe-run's
//! `EVAL_CHUNK`, `capture::CHUNK`). For the CNN of `configs/cnn_fashion.toml` one such forward pass
//! makes tensors of 200–400 MB (the first convolution's `im2col` and output). glibc serves every
//! block above its mmap threshold (at most 32 MiB, [`crate::malloc`]) with a fresh `mmap` and
//! unmaps it on free, so every evaluation faulted in and zeroed gigabytes of new pages: about 1.9
//! million minor faults per epoch of a 6 400-image run, 30–50 % of the process's CPU time in the
//! kernel (issue 20). In evaluation mode every sample's outputs depend on that sample alone (no
//! batch statistics, no dropout), so [`forward_in_chunks`] runs the pass over slices of rows whose
//! largest tensor stays under [`EVAL_TENSOR_BYTES`] and concatenates the logits; hook points append
//! each slice to the [`ActivationCache`], which concatenates them on `take` as it does for
//! probe-run's own chunks.
//!
//! Results are bit-identical to one pass over all rows: slicing changes only the number of rows
//! (or columns) of each matrix product, and gemm's reduction blocking depends on the inner
//! dimension alone; every other op is per sample (tested in `tests/model_eval_chunks.rs`).
//!
//! ```text
//! rows = 8192, largest tensor 113 KiB per row  →  57 slices of ≤ 144 rows (≤ 16 MiB each)
//! ```

use candle_core::Tensor;
use probe_capture::ActivationCache;

use super::layers::norm::TrainFlag;
use crate::Result;

/// A model's train/eval switch together with what sizes its evaluation slices: the forward pass
/// runs whole in training mode and through [`forward_in_chunks`] in evaluation mode.
#[derive(Debug)]
pub(crate) struct Mode {
    training: TrainFlag,
    /// Elements per sample of the largest tensor a forward pass makes.
    elems_per_row: usize,
}

impl Mode {
    /// Training mode (as PyTorch modules start), slices sized by `elems_per_row`.
    pub(crate) fn new(elems_per_row: usize) -> Self {
        Mode {
            training: TrainFlag::default(),
            elems_per_row,
        }
    }

    /// Switches between training (`true`) and evaluation (`false`).
    pub(crate) fn set_training(&self, training: bool) {
        self.training.set(training)
    }

    /// `forward(x, cache, training)`: one call in training mode (batch statistics and dropout
    /// masks span the batch), in slices of rows in evaluation mode.
    pub(crate) fn forward<F>(
        &self,
        x: &Tensor,
        cache: Option<&mut ActivationCache>,
        mut forward: F,
    ) -> Result<Tensor>
    where
        F: FnMut(&Tensor, Option<&mut ActivationCache>, bool) -> Result<Tensor>,
    {
        if self.training.get() {
            return forward(x, cache, true);
        }
        forward_in_chunks(x, cache, self.elems_per_row, |x, c| forward(x, c, false))
    }
}

/// `Model::forward` and `Model::set_training` of a model with a [`Mode`] field `mode` and a
/// method `forward_all(x, hooks, training)`, the forward pass over all rows at once: one call in
/// training mode (batch statistics and dropout masks span the batch), in slices of rows in
/// evaluation mode ([`Mode::forward`]).
macro_rules! mode_forward {
    () => {
        fn forward(
            &self,
            x: &candle_core::Tensor,
            cache: Option<&mut probe_capture::ActivationCache>,
        ) -> $crate::Result<candle_core::Tensor> {
            self.mode.forward(x, cache, |x, c, training| {
                self.forward_all(x, $crate::model::layers::Hooks::new(c), training)
            })
        }

        fn set_training(&self, training: bool) {
            self.mode.set_training(training)
        }
    };
}
pub(crate) use mode_forward;

/// The largest intermediate tensor an evaluation slice may produce, in bytes: half of glibc's
/// largest mmap threshold, so it is served from (and returned to) the heap.
pub const EVAL_TENSOR_BYTES: usize = 16 << 20;

/// How many slices of how many rows (the last may be shorter by up to `slices − 1` rows) `rows`
/// rows are split into when one row's largest tensor holds `bytes_per_row` bytes: `(1, rows)` when
/// everything fits at once. Slices are balanced, so none is much smaller than the others (a
/// 1-row slice would send a matrix product down a different kernel path).
pub fn eval_slices(rows: usize, bytes_per_row: usize) -> (usize, usize) {
    let max_rows = (EVAL_TENSOR_BYTES / bytes_per_row.max(1)).max(1);
    if rows <= max_rows {
        return (1, rows);
    }
    let slices = rows.div_ceil(max_rows);
    (slices, rows.div_ceil(slices))
}

/// `forward(x, cache)` over the rows of `x` in slices (see the module header): on the CPU, when
/// one pass would make a tensor above [`EVAL_TENSOR_BYTES`]; otherwise one call. `elems_per_row`
/// is the number of elements per row of `x` of the largest tensor the pass makes (in `x`'s
/// dtype). Call it only where every row's outputs are independent of the other rows (evaluation
/// mode).
pub fn forward_in_chunks<F>(
    x: &Tensor,
    mut cache: Option<&mut ActivationCache>,
    elems_per_row: usize,
    mut forward: F,
) -> Result<Tensor>
where
    F: FnMut(&Tensor, Option<&mut ActivationCache>) -> Result<Tensor>,
{
    let rows = x.dim(0)?;
    let bytes_per_row = elems_per_row * x.dtype().size_in_bytes();
    let (slices, per) = eval_slices(rows, bytes_per_row);
    if slices == 1 || !x.device().is_cpu() {
        return forward(x, cache);
    }
    let mut outs = Vec::with_capacity(slices);
    let mut start = 0;
    while start < rows {
        let len = per.min(rows - start);
        outs.push(forward(&x.narrow(0, start, len)?, cache.as_deref_mut())?);
        start += len;
    }
    Ok(Tensor::cat(&outs, 0)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_are_balanced_and_cover_every_row() {
        assert_eq!(eval_slices(100, 1), (1, 100));
        assert_eq!(eval_slices(0, 1 << 30), (1, 0));
        // 300 rows fit: 1000 rows → 4 slices of 250 (not 300, 300, 300, 100).
        assert_eq!(eval_slices(1000, EVAL_TENSOR_BYTES / 300), (4, 250));
        // 113 KiB per row (the CNN's second im2col): 144 rows fit; 8192 rows → 57 slices.
        let (s, per) = eval_slices(8192, 113 << 10);
        assert_eq!((s, per), (57, 144));
        assert!(s * per >= 8192 && (s - 1) * per < 8192);
        // A row larger than the budget goes one at a time.
        assert_eq!(eval_slices(3, 64 << 20), (3, 1));
    }
}
