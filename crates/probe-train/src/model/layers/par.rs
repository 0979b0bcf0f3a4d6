//! Splitting the CPU ops of this module over rayon's global pool — the pool candle's matrix
//! products (gemm) use — so both threads stay busy between products and the pool's workers stay
//! warm.
//!
//! Every helper here splits **independent** rows or blocks: each output element is computed by
//! the same operations whatever the split, so results are bit-identical at every thread count.
//! Sums over rows ([`fold_rows`]) use chunk boundaries that depend only on the shape, never on the
//! thread count, and add the chunks' partial sums in chunk order.
//!
//! Work below [`MIN_CHUNK`] elements per chunk stays on the calling thread: a rayon job costs
//! about a microsecond, a wake-up of a parked worker a few (issue 20). Scoped threads per op (the
//! earlier split) cost ~20 µs each and were slower than one thread for most of these ops.
//!
//! ```text
//! split_rows(&mut out, n, |first_row, chunk| fill(first_row, chunk));
//! ```

use std::ops::Range;

use rayon::prelude::*;

/// The least number of elements (32 KiB of `f32`) a chunk of work is split into.
pub(crate) const MIN_CHUNK: usize = 1 << 13;

/// How many chunks per thread the rows are cut into (at most): a few, so a worker that wakes
/// late still takes a share.
const CHUNKS_PER_THREAD: usize = 4;

/// Rows per chunk for `rows` rows of `width` elements: `None` when the work stays on the calling
/// thread.
fn rows_per_chunk(rows: usize, width: usize) -> Option<usize> {
    let threads = rayon::current_num_threads();
    let total = rows.saturating_mul(width.max(1));
    if threads < 2 || rows < 2 || total < 2 * MIN_CHUNK {
        return None;
    }
    let least = MIN_CHUNK.div_ceil(width.max(1));
    Some(rows.div_ceil(threads * CHUNKS_PER_THREAD).max(least))
}

/// Fills `out` (`n` blocks of `block` values) by `f(range_of_blocks, chunk)`, the blocks split in
/// chunks over rayon's pool when the work is large enough.
pub(crate) fn split_blocks<T: Send, F>(out: &mut [T], n: usize, block: usize, f: F)
where
    F: Fn(Range<usize>, &mut [T]) + Sync,
{
    match rows_per_chunk(n, block) {
        Some(per) if block > 0 && out.len() == n * block => out
            .par_chunks_mut(per * block)
            .enumerate()
            .for_each(|(t, chunk)| f(t * per..(t * per + per).min(n), chunk)),
        _ => f(0..n, out),
    }
}

/// Fills `out` (rows of `width`) by `f(first_row, chunk)`, split like [`split_blocks`].
pub(crate) fn split_rows<T: Send, F>(out: &mut [T], width: usize, f: F)
where
    F: Fn(usize, &mut [T]) + Sync,
{
    let n = out.len().checked_div(width).unwrap_or(0);
    split_blocks(out, n, width, |rows, chunk| f(rows.start, chunk));
}

/// Fills the `K` outputs `outs` (`n` rows each, of `widths[k]` elements in output `k`; row `i` of
/// each belonging together) by `f(first_row, chunks)`, split like [`split_blocks`].
pub(crate) fn split_rows_k<T: Send, F, const K: usize>(
    outs: [&mut [T]; K],
    widths: [usize; K],
    f: F,
) where
    F: Fn(usize, [&mut [T]; K]) + Sync,
{
    let n = outs
        .first()
        .zip(widths.first())
        .map_or(0, |(o, &w)| o.len().checked_div(w).unwrap_or(0));
    let even = outs
        .iter()
        .zip(widths)
        .all(|(o, w)| w > 0 && o.len() == n * w);
    match rows_per_chunk(n, widths.iter().sum()) {
        Some(per) if even => {
            let chunks = n.div_ceil(per);
            let mut iters = outs
                .into_iter()
                .zip(widths)
                .map(|(o, w)| o.chunks_mut(per * w))
                .collect::<Vec<_>>();
            let mut parts: Vec<[&mut [T]; K]> = Vec::with_capacity(chunks);
            for _ in 0..chunks {
                parts.push(std::array::from_fn(|k| iters[k].next().unwrap_or_default()));
            }
            parts
                .into_par_iter()
                .enumerate()
                .for_each(|(t, c)| f(t * per, c));
        }
        _ => f(0, outs),
    }
}

/// Rows per chunk of a sum over rows: fixed by the shape alone (at least [`MIN_CHUNK`] elements
/// per chunk), so the order of the additions is the same at every thread count.
fn fold_chunk_rows(width: usize) -> usize {
    MIN_CHUNK.div_ceil(width.max(1))
}

/// Fills `out` (rows of `width`) by `f(first_row, chunk, acc)` and returns the sums `acc` (`m`
/// values, zero at the start of each chunk) that `f` accumulates over its rows, added chunk by
/// chunk in row order. The chunk boundaries depend only on the shape ([`fold_chunk_rows`]), so
/// the result is the same at every thread count.
pub(crate) fn fold_rows<T, F>(out: &mut [T], width: usize, m: usize, f: F) -> Vec<T>
where
    T: Send + Copy + num_traits::Zero,
    F: Fn(usize, &mut [T], &mut [T]) + Sync,
{
    let per = fold_chunk_rows(width);
    let run = |(t, chunk): (usize, &mut [T])| {
        let mut acc = vec![T::zero(); m];
        f(t * per, chunk, &mut acc);
        acc
    };
    let parts: Vec<Vec<T>> = if width == 0 {
        vec![run((0, out))]
    } else if rows_per_chunk(out.len() / width, width).is_some() {
        out.par_chunks_mut(per * width)
            .enumerate()
            .map(run)
            .collect()
    } else {
        out.chunks_mut(per * width).enumerate().map(run).collect()
    };
    add_in_order(parts, m)
}

/// The sums `acc` (`m` values) that `f(rows, acc)` accumulates over the rows `rows` of an input
/// of `n` rows of `width`, from zero in each chunk, added chunk by chunk in row order (the chunks
/// as in [`fold_rows`]: the same result at every thread count).
pub(crate) fn sum_rows_by<T, F>(n: usize, width: usize, m: usize, f: F) -> Vec<T>
where
    T: Send + Copy + num_traits::Zero,
    F: Fn(Range<usize>, &mut [T]) + Sync,
{
    let per = fold_chunk_rows(width);
    let run = |t: usize| {
        let mut acc = vec![T::zero(); m];
        f(t * per..(t * per + per).min(n), &mut acc);
        acc
    };
    let chunks = n.div_ceil(per);
    let parts: Vec<Vec<T>> = if rows_per_chunk(n, width).is_some() {
        (0..chunks).into_par_iter().map(run).collect()
    } else {
        (0..chunks).map(run).collect()
    };
    add_in_order(parts, m)
}

/// `parts[0] + parts[1] + …`, element by element, in that order (zeros when there is none).
fn add_in_order<T: Copy + num_traits::Zero>(parts: Vec<Vec<T>>, m: usize) -> Vec<T> {
    let mut parts = parts.into_iter();
    let mut total = parts.next().unwrap_or_else(|| vec![T::zero(); m]);
    for p in parts {
        for (a, b) in total.iter_mut().zip(p) {
            *a = *a + b;
        }
    }
    total
}

/// `n` copies of `zero`, written in chunks over rayon's pool when `n` is large enough (a
/// single-threaded `memset` of the output buffers was up to 9 % of a CNN training step, issue
/// 20). The buffers of the ops here are then filled in the same chunks.
pub(crate) fn zeros<T: Copy + Send + Sync>(n: usize, zero: T) -> Vec<T> {
    let Some(per) = rows_per_chunk(n, 1) else {
        return vec![zero; n];
    };
    let mut v = Vec::with_capacity(n);
    v.spare_capacity_mut()[..n]
        .par_chunks_mut(per)
        .for_each(|c| {
            for x in c {
                x.write(zero);
            }
        });
    // SAFETY: the capacity is at least `n` and the first `n` elements were all written above.
    unsafe { v.set_len(n) };
    v
}

/// Fills `out` (one value per row of `work` input elements) by `f(first_row, chunk)`, split by
/// the work per row rather than the output's length (row reductions).
pub(crate) fn split_rows_weighted<T: Send, F>(out: &mut [T], work: usize, f: F)
where
    F: Fn(usize, &mut [T]) + Sync,
{
    let n = out.len();
    match rows_per_chunk(n, work) {
        Some(per) => out
            .par_chunks_mut(per)
            .enumerate()
            .for_each(|(t, chunk)| f(t * per, chunk)),
        None => f(0, out),
    }
}
